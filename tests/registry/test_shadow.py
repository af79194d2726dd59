"""The shadow's agreement metrics without a broker: what one compared job exports, and the
challenger's job taken through the client path (markup restored, guards run)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from mtq.core.contract import DecodeOptions, Job, JobLimits, parse_job
from mtq.core.events import CompletedEvent, JobStats, ModelInfo
from mtq.core.markup import SegmentWarning
from mtq.core.model_routes import Canary
from worker.engines import Engine
from worker.lifecycle.shadowing import retranslate
from worker.registry.shadow import Retranslation, Shadow, warning_codes

pytest.importorskip("sacrebleu", reason="needs pip install 'mtq[registry]'")


def job(segments: list[str], **options: Any) -> Job:
    body = {"job_id": "shadow-1", "source_lang": "en", "target_lang": "de",
            "segments": segments, "callback_url": "https://x.example/h",
            "options": {"beam_size": 2, "max_new_tokens": 8, **options}}
    return parse_job(json.dumps(body).encode(), JobLimits())


def test_warning_codes_per_segment_without_length_ratio() -> None:
    found = warning_codes([SegmentWarning(0, "truncated", ""), SegmentWarning(0, "repetition", ""),
                           SegmentWarning(0, "truncated", "again"),
                           SegmentWarning(2, "length_ratio", "")])
    assert found == {0: frozenset({"truncated", "repetition"})}


def test_one_compared_job_exports_confidence_and_warning_agreement() -> None:
    the_job = job(["Hello world.", " ", "The cat sat.", "Rain tomorrow."])
    event = CompletedEvent(
        the_job, ("Hallo Welt.", " ", "Die Katze saß.", "Regen morgen."),
        ModelInfo("m", "1"), JobStats(4, 0, 0), (0.9, 1.0, 0.8, 0.7),
        warnings=(SegmentWarning(0, "truncated", ""), SegmentWarning(2, "length_ratio", ""),
                  SegmentWarning(3, "codes_changed", "")))
    redo = Retranslation(("Hallo Welt.", "", "Die Katze sitzt.", "Regen morgen."),
                         (0.7, 1.0, 0.9, 0.7),
                         (SegmentWarning(0, "truncated", ""), SegmentWarning(2, "repetition", "")))
    registry = CollectorRegistry()
    no_engine: Any = None  # the stub retranslation needs none
    shadow = Shadow(Canary("models:/m@challenger", "m", 1.0), lambda: no_engine,
                    lambda: True, lambda engine, job: redo, registry)
    shadow._compare(event)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("mtq_shadow_jobs_total") == 1 and value("mtq_shadow_segments_total") == 3
    assert value("mtq_shadow_confidence_delta_count") == 3  # the blank segment is not compared
    # deltas -0.2, +0.1, 0.0 (no _sum: a histogram with negative buckets has none)
    assert value("mtq_shadow_confidence_delta_bucket", le="-0.2") == 1
    assert value("mtq_shadow_confidence_delta_bucket", le="0.0") == 2
    assert value("mtq_shadow_confidence_delta_bucket", le="0.1") == 3
    assert value("mtq_shadow_warnings_total", side="champion", code="truncated") == 1
    assert value("mtq_shadow_warnings_total", side="champion", code="codes_changed") == 1
    assert value("mtq_shadow_warnings_total", side="challenger", code="repetition") == 1
    assert value("mtq_shadow_warnings_total", side="champion", code="length_ratio") is None
    # segment 2 (length_ratio left out vs repetition) and 3 (codes_changed vs none) differ
    assert value("mtq_shadow_warning_disagreements_total") == 2
    assert value("mtq_shadow_chrf_count") == 1


def test_the_challengers_job_takes_the_client_path(engine: Engine) -> None:
    options = DecodeOptions(beam_size=2, max_new_tokens=8)
    plain = job(["Hello world.", "", "Send the report by Friday."])
    found = retranslate(engine, plain)
    sources = ["Hello world.", "Send the report by Friday."]
    hypotheses = engine.generate_scored(engine.encode(sources), options)
    assert found.translations == (engine.decode([hypotheses[0].tokens])[0], "",
                                  engine.decode([hypotheses[1].tokens])[0])
    assert found.confidence == pytest.approx((hypotheses[0].confidence, 1.0,
                                              hypotheses[1].confidence))
    # The tiny model's outputs run to the token cap: the guards saw them.
    assert {w.code for w in found.warnings} >= {"truncated"}
    marked = retranslate(engine, job(["<b>Hello</b> world.", "A <i>cat</i>."], markup="html"))
    # The tags were masked from the model and put back, as for a client's job.
    assert "<b>" in marked.translations[0] and "</b>" in marked.translations[0]
    assert "<i>" in marked.translations[1] and "</i>" in marked.translations[1]
