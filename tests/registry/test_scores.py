"""What ``mtq evaluate`` computes from the events: scores, and ``confidence`` read only where
the events carry one number per translation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mtq.cli.main import main
from mtq.core.errors import MtqError
from mtq.tools.loop.scores import confidence_spread, score
from mtq.tools.loop.serving import _assemble

JOBS = [{"job_id": "eval-a-0", "segments": ["a", "b"]}, {"job_id": "eval-a-1",
                                                        "segments": ["c"]}]
MODEL = {"name": "m", "registry": {"name": "m", "version": "3"}}


def completed(job_id: str, translations: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "job.completed", "job_id": job_id, "translations": translations,
            "model": MODEL, **extra}


def test_identical_output_scores_100_and_other_output_less() -> None:
    references = ["The cat sat on the mat.", "It rained all day long."]
    assert score(references, references, "de").chrf == pytest.approx(100)
    other = score(["A dog ran.", "It rained all day."], references, "de")
    assert 0 < other.chrf < 100 and other.bleu < 100
    assert "BLEU nrefs:1|case:mixed|eff:no|tok:13a" in other.signature
    assert other.confidence is None
    assert "tok:zh" in score(["猫"], ["猫"], "zh").signature
    assert set(other.metrics()) == {"chrF", "BLEU", "segments"}


def test_confidence_spread_and_its_metrics() -> None:
    spread = confidence_spread([0.1, 0.5, 0.9, 0.3, 0.7])
    assert spread == pytest.approx({"mean": 0.5, "p10": 0.18, "p50": 0.5, "p90": 0.82,
                                    "min": 0.1})
    scored = score(["x"], ["x"], "de", [0.42])
    assert scored.metrics()["confidence_p50"] == pytest.approx(0.42)


def test_events_are_put_back_in_test_set_order_with_their_confidence() -> None:
    events = {"eval-a-1": completed("eval-a-1", ["C"], confidence=[0.3]),
              "eval-a-0": completed("eval-a-0", ["A", "B"], confidence=[0.9, 0.8])}
    served = _assemble(JOBS, events)
    assert served.translations == ["A", "B", "C"]
    assert served.confidence == [0.9, 0.8, 0.3]
    assert served.model["registry"]["version"] == "3"


def test_confidence_is_absent_unless_every_event_carries_it() -> None:
    events = {"eval-a-0": completed("eval-a-0", ["A", "B"], confidence=[0.9, 0.8]),
              "eval-a-1": completed("eval-a-1", ["C"])}
    assert _assemble(JOBS, events).confidence is None


def test_a_failed_or_missing_job_stops_the_evaluation() -> None:
    failed = {"type": "job.failed", "job_id": "eval-a-1",
              "error": {"code": "internal_error", "message": "boom"}}
    with pytest.raises(MtqError, match=r"1 evaluation jobs failed .*internal_error: boom"):
        _assemble(JOBS, {"eval-a-0": completed("eval-a-0", ["A", "B"]), "eval-a-1": failed})
    with pytest.raises(MtqError, match="1 of 2 evaluation jobs got no result"):
        _assemble(JOBS, {"eval-a-0": completed("eval-a-0", ["A", "B"])})


def test_evaluate_of_a_folder_must_say_no_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "t.tsv").write_text("a\tb\n")
    assert main(["evaluate", str(tmp_path), str(tmp_path / "t.tsv")]) == 2
    assert "not a registry model" in capsys.readouterr().err
