"""The inference thread's attention step: only rows that ask, through the worker's model set."""

from __future__ import annotations

from pathlib import Path

from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from worker.engines.alignment import attention_for
from worker.engines.hf import HFEngine
from worker.engines.model_set import ModelSet


def test_attention_only_for_the_rows_that_ask_through_the_model_set(
    tiny_model_path: Path,
) -> None:
    engine = HFEngine(Settings(model=str(tiny_model_path), device="cpu", torch_threads=1))
    models = ModelSet.of(engine, ("en-de",))
    sources = engine.encode(["Click Save now.", "Hello there."])
    options = DecodeOptions(beam_size=2, max_new_tokens=6)
    outputs = models.generate(sources, options)
    rows = attention_for(models, sources, outputs, [False, True], options)
    assert rows[0] is None
    assert rows[1] is not None and len(rows[1]) == len(outputs[1])
    assert attention_for(models, sources, outputs, [False, False], options) == [None, None]


class _NoAttention:
    pass


def test_an_engine_without_attention_leaves_the_fallback() -> None:
    assert attention_for(_NoAttention(), [[1]], [[2]], [True]) == [None]
