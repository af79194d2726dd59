"""How often the CTranslate2 engine gives the HF engine's translation, segment for segment.

Both engines get the same scheduler-like batches (length-sorted, 16 segments) and the same
effective length limit: CTranslate2 caps each batch itself (``decoding_cap``), so the HF engine
is given that cap as ``max_new_tokens``. float32 must agree almost everywhere; int8's rate is
reported (``-s`` prints it; docs/engines.md records the measured numbers), not asserted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from mtq.tools.tiny_corpus import generated_sentences
from worker.engines.ct2 import CTranslate2Engine, decoding_cap
from worker.engines.hf import HFEngine

pytestmark = pytest.mark.slow
BATCH = 16
BEAM = 4
MAX_NEW_TOKENS = 64


@dataclass(frozen=True)
class Agreement:
    segments: int
    identical: int
    prefix_share: float  # mean share of the longer output that both outputs start with

    @property
    def rate(self) -> float:
        return self.identical / self.segments


def reference_translations(
    engine: HFEngine, sources: Sequence[Sequence[int]], max_new_tokens: int
) -> list[str]:
    translations = [""] * len(sources)
    for batch in _batches(sources):
        cap = decoding_cap(max(len(sources[i]) for i in batch), max_new_tokens)
        outputs = engine.generate([sources[i] for i in batch], DecodeOptions(BEAM, cap))
        for index, text in zip(batch, engine.decode(outputs), strict=True):
            translations[index] = text
    return translations


def agreement(
    engine: CTranslate2Engine, sources: Sequence[Sequence[int]], reference: Sequence[str],
    max_new_tokens: int,
) -> Agreement:
    identical = 0
    shares = 0.0
    for batch in _batches(sources):
        outputs = engine.generate([sources[i] for i in batch], DecodeOptions(BEAM, max_new_tokens))
        for index, text in zip(batch, engine.decode(outputs), strict=True):
            ours, theirs = text.split(), reference[index].split()
            identical += text == reference[index]
            common = next(
                (n for n, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
                min(len(ours), len(theirs)),
            )
            shares += common / max(1, len(ours), len(theirs))
    return Agreement(len(sources), identical, shares / len(sources))


def _batches(sources: Sequence[Sequence[int]]) -> list[list[int]]:
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    return [order[start : start + BATCH] for start in range(0, len(order), BATCH)]


def measure(
    tiny_model_path: Path, ct2_model_path: Path, count: int, max_new_tokens: int,
    compute_types: Sequence[str],
) -> dict[str, Agreement]:
    hf = HFEngine(Settings(model=str(tiny_model_path), device="cpu", dtype="float32"))
    sources = hf.encode(list(generated_sentences(count, seed=2024)))
    reference = reference_translations(hf, sources, max_new_tokens)
    results = {}
    for compute_type in compute_types:
        engine = CTranslate2Engine.from_folder(
            ct2_model_path, compute_type=compute_type, inter_threads=1, intra_threads=1,
            device="cpu",
        )
        results[engine.info.compute_type] = agreement(engine, sources, reference, max_new_tokens)
    return results


def test_float32_agrees_with_hf_and_int8_is_reported(
    tiny_model_path: Path, ct2_model_path: Path, record_property: Callable[[str, object], None],
) -> None:
    results = measure(tiny_model_path, ct2_model_path, 64, MAX_NEW_TOKENS, ("float32", "int8"))
    for compute_type, result in results.items():
        record_property(f"agreement_{compute_type}", round(result.rate, 4))
        print(
            f"\nCTranslate2 {compute_type} vs HF float32: {result.identical}/{result.segments} "
            f"identical ({result.rate:.1%}), mean shared prefix {result.prefix_share:.1%}"
        )
    assert results["float32"].rate >= 0.9
    assert set(results) == {"float32", "int8_float32"}
