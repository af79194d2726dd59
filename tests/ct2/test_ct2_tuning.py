"""The real warm-up measures CTranslate2's threading on the tiny model (no timed assertions)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mtq.core.contract import DecodeOptions
from mtq.core.cpus import usable_cpus
from mtq.core.settings import Settings
from worker.engines.cpu.tuning import ct2_candidates
from worker.engines.ct2 import CTranslate2Engine
from worker.engines.metrics import register_engine_metrics

OPTIONS = DecodeOptions(beam_size=2, max_new_tokens=8)


def _engine(path: Path, **settings: object) -> CTranslate2Engine:
    return CTranslate2Engine(Settings(
        model=str(path), engine="ctranslate2", device="cpu", compute_type="int8",
        max_batch_segments=8, **settings,  # type: ignore[arg-type]
    ))


def test_warmup_measures_and_keeps_a_candidate(
    ct2_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _engine(ct2_model_path)
    sources = engine.encode(["A short sentence.", "Another one, a little longer."])
    before = engine.generate(sources, OPTIONS)
    with caplog.at_level(logging.INFO, logger="worker.engines.probe"):
        engine.warmup(OPTIONS)
    tuning = engine.threading
    candidates = ct2_candidates(usable_cpus())
    assert tuning.chosen in candidates
    if len(candidates) > 1:
        assert tuning.how == "measured"
        assert {t.threads for t in tuning.trials} | set(tuning.skipped) == set(candidates)
        assert "<- chosen" in caplog.text
    assert engine.replicas == tuning.chosen.replicas
    assert engine.generate(sources, OPTIONS) == before  # same translations after reloading

    registry = CollectorRegistry()
    register_engine_metrics(registry, [engine])
    model = {"model": engine.info.name}
    assert registry.get_sample_value("mtq_engine_replicas", model) == tuning.chosen.replicas
    assert registry.get_sample_value("mtq_engine_intra_threads", model) == tuning.chosen.intra


def test_explicit_threads_are_not_measured(ct2_model_path: Path) -> None:
    engine = _engine(ct2_model_path, intra_threads=1, inter_threads=2)
    engine.warmup(OPTIONS)
    assert engine.threading.how == "explicit" and engine.threading.trials == ()
    assert (engine.threading.chosen.intra, engine.replicas) == (1, 2)


def test_a_zero_bound_keeps_the_rule(ct2_model_path: Path) -> None:
    engine = _engine(ct2_model_path, thread_tuning_s=0.0)
    engine.warmup(OPTIONS)
    assert engine.threading.how == "rule"
    assert engine.threading.chosen.intra == usable_cpus() and engine.replicas == 1
