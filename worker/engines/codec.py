"""What both engines do the same way: the HF tokenizer in and out, warm-up, device choice.

Both engines speak token ids: the model's HF tokenizer encodes the texts and decodes the
outputs, whichever runtime generates in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mtq.core.contract import DecodeOptions
from mtq.core.errors import ConfigError
from worker.engines.marian_codec import marian_codec

WARMUP_TEXTS = ("Warm up the model.", "A second, longer sentence to pad the batch.")
WARMUP_MAX_NEW_TOKENS = 8


def encode_texts(tokenizer: Any, texts: Sequence[str], add_special_tokens: bool = True
                 ) -> list[list[int]]:
    """Token ids per text, never truncated (admission checks length)."""
    codec = marian_codec(tokenizer)
    if codec is not None:
        return codec.encode(texts, add_special_tokens)
    encoded = tokenizer(list(texts), add_special_tokens=add_special_tokens, truncation=False)
    return [list(ids) for ids in encoded["input_ids"]]


def decode_ids(tokenizer: Any, outputs: Sequence[Sequence[int]]) -> list[str]:
    rows = [list(output) for output in outputs]
    codec = marian_codec(tokenizer)
    if codec is not None:
        return codec.decode(rows)
    return list(tokenizer.batch_decode(rows, skip_special_tokens=True))


def warmup_batch(encode: Any, copies: int = 1) -> list[list[int]]:
    """A small batch of real text (``copies`` times the warm-up texts)."""
    result: list[list[int]] = encode(list(WARMUP_TEXTS) * max(1, copies))
    return result


def warmup_options(options: DecodeOptions) -> DecodeOptions:
    """The job defaults' beam, few new tokens: enough to load kernels and caches."""
    return DecodeOptions(options.beam_size, min(WARMUP_MAX_NEW_TOKENS, options.max_new_tokens))


def pick_device(wanted: str, gpus_visible: bool, runtime: str) -> str:
    """``auto`` is ``cuda`` when ``runtime`` sees a GPU; ``cuda`` without one is refused."""
    if wanted == "cuda" and not gpus_visible:
        raise ConfigError(f"MTQ_DEVICE=cuda but {runtime} sees no CUDA device")
    if wanted == "auto":
        return "cuda" if gpus_visible else "cpu"
    return wanted
