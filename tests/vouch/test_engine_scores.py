"""Confidence from both engines on the tiny model: what it measures, batch invariance, and
the agreement of HF and CTranslate2 on the same converted model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from mtq.core.contract import DecodeOptions
from tests.vouch.conftest import ct2_engine_for
from tests.vouch.scripted import EndAt, Force, scripted

TEXTS = [
    "Hello world.",
    "A much longer sentence, with many more words to translate than the first one has.",
    "Yes",
    "Three short words.",
]
CAP = DecodeOptions(beam_size=2, max_new_tokens=10)


def rescored(engine: Any, source: list[int], tokens: list[int], scored: int) -> float:
    """The summed log-probability of the first ``scored`` output tokens, teacher-forced."""
    torch = engine._torch
    generated = tokens[1:1 + scored]
    with torch.inference_mode():
        logits = engine.model(
            input_ids=torch.tensor([source]), decoder_input_ids=torch.tensor([tokens[:scored + 1]])
        ).logits[0]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return float(sum(log_probs[i, t] for i, t in enumerate(generated)))


def test_hf_confidence_is_the_mean_log_probability_of_the_chosen_tokens(engine: Any) -> None:
    sources = engine.encode(TEXTS[:2])
    for source, row in zip(sources, engine.generate_scored(sources, CAP), strict=True):
        # The random model never ends: the cap forces </s>, which is not counted.
        assert not row.finished and row.scored == CAP.max_new_tokens - 1
        expected = rescored(engine, source, row.tokens, row.scored)
        assert row.log_prob == pytest.approx(expected, abs=1e-3)
        assert row.confidence == pytest.approx(math.exp(expected / row.scored), abs=1e-4)
        assert 0.0 < row.confidence < 1.0


def test_hf_counts_the_end_of_sentence_once_it_is_generated(engine: Any) -> None:
    (source,) = engine.encode(["Count the end of sentence."])
    with scripted(engine, {tuple(source): EndAt(3)}):
        (row,) = engine.generate_scored([source], CAP)
    # Three free tokens and the </s> (the script gives it probability 1: it adds 0).
    assert row.finished and row.scored == 4
    assert row.log_prob == pytest.approx(rescored(engine, source, row.tokens, 3), abs=1e-3)
    with scripted(engine, {tuple(source): Force((7, 8, 9))}):
        (forced,) = engine.generate_scored([source], CAP)
    assert forced.finished and forced.confidence == 1.0


def test_hf_confidence_does_not_depend_on_the_batch(engine: Any) -> None:
    sources = engine.encode(TEXTS)
    plan = {tuple(sources[1]): EndAt(2), tuple(sources[3]): EndAt(5)}  # mixed output lengths
    with scripted(engine, plan):
        mixed = engine.generate_scored(sources, CAP)
        alone = [engine.generate_scored([source], CAP)[0] for source in sources]
    assert len({row.scored for row in mixed}) == 3  # outputs of 3, 6 and 9 tokens, padded
    for together, single in zip(mixed, alone, strict=True):
        assert together.scored == single.scored and together.finished == single.finished
        assert together.confidence == pytest.approx(single.confidence, abs=1e-4)


def test_ct2_confidence_does_not_depend_on_the_batch(vouch_ct2_path: Path) -> None:
    engine = ct2_engine_for(vouch_ct2_path)
    sources = engine.encode(TEXTS)
    mixed = engine.generate_scored(sources, CAP)
    for source, together in zip(sources, mixed, strict=True):
        (single,) = engine.generate_scored([source], CAP)
        assert together.tokens == single.tokens and not single.finished
        assert together.confidence == pytest.approx(single.confidence, abs=1e-4)


def test_hf_and_ct2_agree_on_the_same_converted_model(engine: Any, vouch_ct2_path: Path) -> None:
    """float32 on both sides: the same tokens and confidence within 1e-3 (docs/vouch.md)."""
    ct2 = ct2_engine_for(vouch_ct2_path)
    sources = engine.encode(TEXTS)
    for hf_row, ct2_row in zip(engine.generate_scored(sources, CAP),
                               ct2.generate_scored(sources, CAP), strict=True):
        assert hf_row.scored == ct2_row.scored and hf_row.finished == ct2_row.finished
        assert hf_row.confidence == pytest.approx(ct2_row.confidence, abs=1e-3)


def test_generate_still_returns_token_rows(engine: Any, vouch_ct2_path: Path) -> None:
    ct2 = ct2_engine_for(vouch_ct2_path)
    for model in (engine, ct2):
        sources = model.encode(TEXTS[:2])
        assert model.generate(sources, CAP) == [
            row.tokens for row in model.generate_scored(sources, CAP)]
