"""Terminology end to end: the worker on the real broker, both engines, every method.

Jobs with a glossary and do-not-translate strings ride in the same batches as a plain job;
every matched entry's target is in the delivered text and the report says so; the plain job
is translated exactly as the engine translates its segments alone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mtq.client.declare import declare_all
from mtq.client.submit import publish_all
from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from mtq.core.terms import METHODS
from mtq.core.vouch import CODES as GUARD_CODES
from tests.integration.helpers import events_by_job, make_job
from worker.app import Worker
from worker.engines import Engine, load_engine
from worker.lifecycle.admission import job_limits

pytestmark = pytest.mark.integration
CALLBACK = "https://client.example/hooks/mt"
OPTIONS = {"beam_size": 2, "max_new_tokens": 12}
SEGMENTS = [
    "Go to checkout and pay with your credit card.",
    "The credit card number is shown at checkout, checkout again!",
    "Acme Cloud keeps your files safe.",
    "Nothing to see here.",
    "Click <b>checkout</b> to pay %s now.",
    "",
]
GLOSSARY = [{"source": "checkout", "target": "Kasse"},
            {"source": "credit card", "target": "Kreditkarte"},
            {"source": "credit card number", "target": "Kartennummer"}]
KEEP = ["Acme Cloud"]


def settings_for(amqp_url: str, engine: str, model: Path, **changes: Any) -> Settings:
    common: dict[str, Any] = dict(
        amqp_url=amqp_url, model=str(model), device="cpu", routes=("en-de",), metrics_port=0,
        batch_max_wait_ms=5, max_batch_segments=16, drain_timeout_s=30,
    )
    if engine == "ctranslate2":
        common.update(engine="ctranslate2", compute_type="float32", inter_threads=1,
                      intra_threads=1)
    else:
        common.update(torch_threads=1)
    return Settings(**{**common, **changes})


def model_for(engine_name: str, tiny_model_path: Path, request: pytest.FixtureRequest) -> Path:
    if engine_name == "ctranslate2":
        path: Path = request.getfixturevalue("terms_ct2_model")
        return path
    return tiny_model_path


@pytest.mark.parametrize("engine_name", ["hf", "ctranslate2"])
def test_terms_are_honoured_on_both_engines_and_plain_jobs_are_untouched(
    amqp_url: str, engine_name: str, tiny_model_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = settings_for(amqp_url, engine_name, model_for(engine_name, tiny_model_path,
                                                                request))
    engine: Engine = load_engine(settings)
    jobs = [make_job("plain", [s for s in SEGMENTS if s and "<" not in s], CALLBACK,
                     options=dict(OPTIONS))]
    for method in METHODS:
        options = {**OPTIONS, "glossary": GLOSSARY, "do_not_translate": KEEP,
                   "terms_method": method, "markup": "html", "placeholders": ["printf"]}
        jobs.append(make_job(f"terms-{method}", SEGMENTS, CALLBACK, options=options))
    asyncio.run(declare_all(settings))
    publish_all(jobs, amqp_url, job_limits(settings))

    code = asyncio.run(asyncio.wait_for(
        Worker(settings, engine).run(burst=True, health=False), timeout=280))

    assert code == 0
    events = events_by_job(amqp_url)
    assert all(e["type"] == "job.completed" for e in events.values()), events
    plain = events["plain"]
    assert "terms" not in plain and "terms" not in plain["stats"]
    assert {w["code"] for w in plain["warnings"]} <= set(GUARD_CODES)  # no terminology ones
    options = DecodeOptions(OPTIONS["beam_size"], OPTIONS["max_new_tokens"])
    alone = engine.decode(engine.generate(engine.encode(jobs[0]["segments"]), options))
    assert plain["translations"] == alone  # batched with terminology jobs, as alone
    for method in METHODS:
        event = events[f"terms-{method}"]
        assert len(event["terms"]) == len(SEGMENTS)
        matched = [[(t["source"], t["target"]) for t in seg] for seg in event["terms"]]
        assert matched[0] == [("checkout", "Kasse"), ("credit card", "Kreditkarte")]
        assert matched[1] == [("credit card number", "Kartennummer"), ("checkout", "Kasse")]
        assert matched[2] == [("Acme Cloud", "Acme Cloud")]
        assert matched[3] == [] and matched[5] == []
        for seg, text in zip(event["terms"], event["translations"], strict=True):
            for item in seg:
                assert item["found"] and item["target"] in text
        assert event["translations"][1].count("Kasse") >= 2  # every occurrence counts
        assert "<b>" in event["translations"][4] and "%s" in event["translations"][4]
        total = sum(len(seg) for seg in event["terms"])
        assert event["stats"]["terms"] == {"matched": total, "honoured": total}
        assert not [w for w in event["warnings"] if w["code"] == "term_missing"]
