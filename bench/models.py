"""The models the benchmark runs: the project's tiny model and an opus-mt-en-de-shaped one.

Both are written with ``save_pretrained`` and loaded back through the worker's own engine
(``worker.engines.hf.HFEngine``), exactly as production loads Helsinki-NLP/opus-mt-* models.

The opus-shaped model has random weights but the shape of Helsinki-NLP/opus-mt-en-de
(d_model 512, 6+6 layers, 8 heads, ffn 2048, vocabulary 58,101, swish), so every ``generate``
step costs what the real model's does: the embedding and the 58k-wide output projection
included. Only the tokenizer is small; it decides token *counts*, not per-token cost.

Random weights rarely emit EOS at a natural place, and a fair comparison needs every strategy
to generate the same number of tokens, so :func:`fix_output_length` writes
``min_new_tokens = max_new_tokens - 1`` into the model's ``generation_config.json``: EOS is
suppressed until the forced EOS of the last step, and every segment yields exactly
``max_new_tokens`` tokens whatever batch it lands in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtq.tools.tiny_corpus import TinyModelSpec, generated_sentences
from mtq.tools.tiny_model import build_tiny_model


@dataclass(frozen=True)
class ModelShape:
    vocab_size: int
    d_model: int
    layers: int
    heads: int
    ffn_dim: int
    max_positions: int = 512

    def describe(self) -> str:
        return (
            f"d_model {self.d_model}, {self.layers}+{self.layers} layers, {self.heads} heads, "
            f"ffn {self.ffn_dim}, vocab {self.vocab_size:,}"
        )


# Helsinki-NLP/opus-mt-en-de's config.json, the parts that decide compute.
OPUS_MT_EN_DE = ModelShape(vocab_size=58101, d_model=512, layers=6, heads=8, ffn_dim=2048)

_TINY = TinyModelSpec()
TINY_SHAPE = ModelShape(
    vocab_size=_TINY.vocab_size, d_model=_TINY.d_model, layers=_TINY.layers,
    heads=_TINY.heads, ffn_dim=_TINY.ffn_dim, max_positions=_TINY.max_positions,
)


def build_tiny(root: Path) -> Path:
    """The project's tiny model (``mtq tiny-model``), built into ``root/tiny``."""
    return build_tiny_model(root / "tiny")


def build_opus_shaped(
    root: Path, tokenizer_from: Path | None = None, shape: ModelShape = OPUS_MT_EN_DE,
    seed: int = 0,
) -> Path:
    """A random-weight MarianMT model of ``shape`` in ``root/opus-mt-en-de-shaped``.

    The tokenizer is copied from ``tokenizer_from`` (the tiny model's SentencePiece one);
    without it, a Unigram tokenizer is trained with the ``tokenizers`` library, which every
    ``transformers`` install has (bare GPU machines may lack ``sentencepiece``).
    """
    import torch
    from transformers import AutoTokenizer, MarianConfig, MarianMTModel

    path = root / "opus-mt-en-de-shaped"
    path.mkdir(parents=True, exist_ok=True)
    tokenizer: Any = (
        AutoTokenizer.from_pretrained(tokenizer_from) if tokenizer_from else _fast_tokenizer()
    )
    pad = int(tokenizer.pad_token_id)
    eos = int(tokenizer.eos_token_id)
    config = MarianConfig(
        vocab_size=shape.vocab_size,
        d_model=shape.d_model,
        encoder_layers=shape.layers,
        decoder_layers=shape.layers,
        encoder_attention_heads=shape.heads,
        decoder_attention_heads=shape.heads,
        encoder_ffn_dim=shape.ffn_dim,
        decoder_ffn_dim=shape.ffn_dim,
        max_position_embeddings=shape.max_positions,
        activation_function="swish",
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        pad_token_id=pad,
        eos_token_id=eos,
        decoder_start_token_id=pad,
        forced_eos_token_id=eos,
    )
    torch.manual_seed(seed)
    model = MarianMTModel(config).eval()
    # What opus-mt-en-de's generation_config.json holds besides the ids (its max_length of
    # 512 left out: the engine always passes max_new_tokens, and both make transformers warn).
    model.generation_config.num_beams = 4
    model.generation_config.bad_words_ids = [[pad]]
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def fix_output_length(path: Path, max_new_tokens: int) -> None:
    """Make every segment generate exactly ``max_new_tokens`` tokens (see the module doc)."""
    file = path / "generation_config.json"
    config = json.loads(file.read_text(encoding="utf-8"))
    config["min_new_tokens"] = max(0, max_new_tokens - 1)
    file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _fast_tokenizer() -> Any:
    from tokenizers import SentencePieceUnigramTokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    spec = TinyModelSpec()
    unigram = SentencePieceUnigramTokenizer()
    unigram.train_from_iterator(
        generated_sentences(20_000, spec.seed), vocab_size=spec.vocab_size,
        special_tokens=["</s>", "<unk>", "<pad>"], unk_token="<unk>", show_progress=False,
    )
    eos = unigram.token_to_id("</s>")
    unigram.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", eos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=unigram, eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        model_max_length=spec.max_positions,
    )
