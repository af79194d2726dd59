"""Does a converted model translate like the model it was converted from?

``mtq convert`` checks it before moving the folder into place: the same sample is translated
greedily by the source model (transformers, float32 on the CPU) and by the converted one
(CTranslate2, its stored precision), and the outputs are compared. A conversion can be silently
wrong (a Marian model whose decoder-start embedding row is not zero converts into one that
decodes differently), so a float conversion that agrees on fewer than :data:`FLOOR` of the
sample is refused; quantized weights (int8) change some outputs by design, so there a
difference is reported, never refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtq.tools.tiny_corpus import generated_sentences

log = logging.getLogger(__name__)

FLOOR = 0.9  # share of the sample a float conversion must translate identically
SAMPLE = 24
_MAX_TOKENS = 24


@dataclass(frozen=True)
class Agreement:
    same: int
    total: int
    quantized: bool

    @property
    def identical(self) -> bool:
        return self.same == self.total

    @property
    def refused(self) -> bool:
        return not self.quantized and self.same < FLOOR * self.total

    def describe(self, source: Path) -> str:
        verdict = "refused: " if self.refused else ""
        return (
            f"{verdict}the converted model translates {self.same} of {self.total} sample "
            f"sentences as {source} does ({self.same / self.total:.0%}; a float conversion "
            f"needs {FLOOR:.0%})"
        )


def sample() -> list[str]:
    """English-like sentences: what is compared is the two models' outputs, not their
    quality, so any text the tokenizer can encode will do."""
    return list(generated_sentences(SAMPLE, seed=97))


def verify_conversion(source: Path, converted: Path, tokenizer: Any) -> Agreement:
    """Translate :func:`sample` with both models and count identical outputs."""
    import ctranslate2
    import torch
    from transformers import AutoModelForSeq2SeqLM

    texts = sample()
    model = AutoModelForSeq2SeqLM.from_pretrained(source, dtype=torch.float32).eval()
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        ids = model.generate(**batch, num_beams=1, do_sample=False, max_new_tokens=_MAX_TOKENS)
    special = set(tokenizer.all_special_ids)
    # The first tokens only: at the cap, transformers forces </s> in place of the last one.
    expected = [[t for t in row.tolist() if t not in special][: _MAX_TOKENS - 1] for row in ids]
    translator = ctranslate2.Translator(str(converted), device="cpu", compute_type="default")
    forced = getattr(model.generation_config, "forced_bos_token_id", None)
    prefix = None
    if forced is not None:
        prefix = [tokenizer.convert_ids_to_tokens([forced])] * len(texts)
    results = translator.translate_batch(
        [tokenizer.convert_ids_to_tokens(row) for row in tokenizer(texts)["input_ids"]],
        target_prefix=prefix, beam_size=1, max_decoding_length=_MAX_TOKENS,
    )
    found = [
        [t for t in tokenizer.convert_tokens_to_ids(r.hypotheses[0]) if t not in special][
            : _MAX_TOKENS - 1]
        for r in results
    ]
    same = sum(a == b for a, b in zip(expected, found, strict=True))
    quantized = str(translator.compute_type).startswith("int8")
    return Agreement(same, len(texts), quantized)
