"""The real warm-up measures torch's intra-op threads on the tiny model (no timed assertions)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from prometheus_client import CollectorRegistry

from mtq.core.contract import DecodeOptions
from mtq.core.cpus import usable_cpus
from mtq.core.settings import Settings
from worker.engines.cpu.tuning import torch_candidates
from worker.engines.hf import HFEngine
from worker.engines.metrics import register_engine_metrics

OPTIONS = DecodeOptions(beam_size=2, max_new_tokens=8)


def test_warmup_measures_torch_threads(
    tiny_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = HFEngine(Settings(model=str(tiny_model_path), device="cpu", max_batch_segments=8))
    with caplog.at_level(logging.INFO, logger="worker.engines.probe"):
        engine.warmup(OPTIONS)
    tuning = engine.threading
    candidates = torch_candidates(usable_cpus())
    assert tuning.chosen in candidates
    assert torch.get_num_threads() == tuning.chosen.intra
    if len(candidates) > 1:
        assert tuning.how == "measured" and "<- chosen" in caplog.text
    registry = CollectorRegistry()
    register_engine_metrics(registry, [engine])
    chosen, model = str(tuning.chosen.intra), engine.info.name
    assert registry.get_sample_value("mtq_engine_intra_threads", {"model": model}) == int(chosen)
    labels = {"model": model, "how": tuning.how, "intra_threads": chosen, "replicas": "1"}
    assert registry.get_sample_value("mtq_engine_threads", labels) == 1


def test_explicit_torch_threads_win(tiny_model_path: Path) -> None:
    engine = HFEngine(Settings(model=str(tiny_model_path), device="cpu", torch_threads=1))
    engine.warmup(OPTIONS)
    assert engine.threading.how == "explicit" and torch.get_num_threads() == 1


def test_the_worker_exports_the_choice(tiny_model_path: Path) -> None:
    from worker.app import Worker

    settings = Settings(model=str(tiny_model_path), device="cpu", torch_threads=1)
    engine = HFEngine(settings)
    worker = Worker(settings, engine)
    model = {"model": engine.info.name}
    assert worker.registry.get_sample_value("mtq_engine_intra_threads", model) == 1
    assert worker.registry.get_sample_value("mtq_engine_replicas", model) == 1


def test_the_choice_is_checked_again_on_real_batches(
    tiny_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With a re-check period shorter than a batch, the first batches after warm-up time both
    configurations and the engine keeps one of them (the live check, not the probe)."""
    if len(torch_candidates(usable_cpus())) < 2:
        pytest.fail("this test needs at least 2 usable CPUs (one candidate is never checked)")
    settings = Settings(model=str(tiny_model_path), device="cpu", max_batch_segments=8,
                        thread_recheck_s=1e-6)
    engine = HFEngine(settings)
    engine.warmup(OPTIONS)
    assert engine.threading.how == "measured"
    sources = engine.encode(["A sentence to translate.", "And another one, a bit longer."])
    with caplog.at_level(logging.INFO, logger="worker.engines.hf"):
        for _ in range(20):  # 2 x (3 timed batches + 1 after the switch) suffice
            assert len(engine.generate(sources, OPTIONS)) == 2
            if engine.threading.how != "measured":
                break
    tuning = engine.threading
    assert tuning.how == "checked under traffic"
    assert tuning.chosen in torch_candidates(usable_cpus())
    assert torch.get_num_threads() == tuning.chosen.intra
    assert "threading checked on real batches" in caplog.text and "<- kept" in caplog.text
    assert tuning.trials  # the start-up table is still exported
