"""The packaged trained model really translates, through the worker's own HF engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtq.cli.main import main
from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from mtq.tools.synth_pair import pairs
from worker.engines.hf import HFEngine

# Neither the training corpus (seed 1), the development set (2) nor the held-out set in
# TRAINING.json (3): sentences the model has never seen.
TEST_SEED = 20_261_205


@pytest.fixture(scope="module")
def trained_engine(trained_model_path: Path) -> HFEngine:
    return HFEngine(Settings(model=str(trained_model_path), device="cpu"))


def test_held_out_exact_match_with_beam_4_is_at_least_95_percent(
    trained_engine: HFEngine,
) -> None:
    examples = list(pairs(120, TEST_SEED))
    sources = trained_engine.encode([p.source for p in examples])
    outputs = trained_engine.generate(sources, DecodeOptions(beam_size=4, max_new_tokens=64))
    translations = trained_engine.decode(outputs)
    right = sum(t == p.target for t, p in zip(translations, examples, strict=True))
    assert right / len(examples) >= 0.95, [
        (p.source, t) for t, p in zip(translations, examples, strict=True) if t != p.target]


def test_the_cli_copies_a_loadable_model_with_its_training_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["tiny-model", "--kind", "trained", str(tmp_path / "m")]) == 0
    assert "trained model written" in capsys.readouterr().out
    report = json.loads((tmp_path / "m" / "TRAINING.json").read_text(encoding="utf-8"))
    assert report["held_out_exact_beam4"] >= 0.95
    engine = HFEngine(Settings(model=str(tmp_path / "m"), device="cpu"))
    [example] = list(pairs(1, TEST_SEED + 1))
    assert engine.decode(engine.generate(
        engine.encode([example.source]), DecodeOptions(beam_size=4, max_new_tokens=64),
    )) == [example.target]
