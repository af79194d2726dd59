"""A cap beyond the model's position table: the output stops at the last position instead of
failing the batch (an IndexError on HF, a RuntimeError on CTranslate2). The trained model has
128 positions."""

from __future__ import annotations

from mtq.core.contract import DecodeOptions
from mtq.tools.synth_pair import pairs
from worker.engines.ct2 import CTranslate2Engine
from worker.engines.hf import HFEngine

CAP = DecodeOptions(beam_size=2, max_new_tokens=256)  # the worker's default cap


def long_source(engine: HFEngine | CTranslate2Engine) -> list[int]:
    """One sentence said six times, cut to 126 tokens: the model translates it at length."""
    sentence = list(pairs(121, seed=5))[120].source[:-1]
    return engine.encode([" ".join([sentence] * 6)])[0][:126]


def test_hf_output_stops_at_the_last_position(trained_hf: HFEngine) -> None:
    source = long_source(trained_hf)
    short = trained_hf.encode([next(pairs(1, seed=78)).source])[0]
    long_row, short_row = trained_hf.generate_scored([source, short], CAP)
    assert trained_hf.max_new_tokens == 127
    assert len(long_row.tokens) == 128  # the start token and 127 written: every position
    assert not long_row.finished  # reported as cut off at the cap
    assert short_row.finished  # the batch-mate is unaffected


def test_ct2_output_stops_at_the_last_position(trained_ct2: CTranslate2Engine) -> None:
    source = long_source(trained_ct2)
    short = trained_ct2.encode([next(pairs(1, seed=78)).source])[0]
    long_row, short_row = trained_ct2.generate_scored([source, short], CAP)
    assert trained_ct2.max_new_tokens == 127
    assert not long_row.finished
    assert short_row.finished
