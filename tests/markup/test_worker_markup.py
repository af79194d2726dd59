"""End to end: the catalog through the worker on the real broker, on both engines.

Every catalog segment goes in as part of a job with its ``options.markup`` and
``options.placeholders``, beside a plain job holding the stripped sources, all batched
together. Each result must keep every code byte for byte, well nested, with the words of the
plain translation of the stripped source.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mtq.client.declare import declare_all
from mtq.client.submit import publish_all
from mtq.core.contract import DecodeOptions
from mtq.core.markup import mask, parse
from mtq.core.markup.codes import UNBALANCED, UNPARSED, Text
from mtq.core.settings import Settings
from mtq.core.vouch import CODES as GUARD_CODES
from tests.integration.helpers import events_by_job, make_job
from tests.markup.catalog import CATALOG
from worker.app import Worker
from worker.engines import Engine, load_engine
from worker.lifecycle.admission import job_limits

pytestmark = pytest.mark.integration
CALLBACK = "https://client.example/hooks/mt"
MAX_NEW_TOKENS = 10
OPTIONS = {"beam_size": 2, "max_new_tokens": MAX_NEW_TOKENS}


def _groups() -> dict[tuple[str, tuple[str, ...]], list[str]]:
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for markup, placeholders, segment in CATALOG:
        groups.setdefault((markup, placeholders), []).append(segment)
    return groups


def _letters(text: str, markup: str, placeholders: tuple[str, ...] = ()) -> str:
    parsed = parse(text, markup, placeholders)
    return "".join("".join(i.plain for i in parsed.items if isinstance(i, Text)).split())


def _jobs() -> tuple[list[dict[str, Any]], list[str]]:
    jobs = []
    stripped: list[str] = []
    for n, ((markup, placeholders), segments) in enumerate(sorted(_groups().items())):
        options: dict[str, Any] = {**OPTIONS, "markup": markup}
        if placeholders:
            options["placeholders"] = list(placeholders)
        jobs.append(make_job(f"markup-{n}", segments, CALLBACK, options=options))
        stripped.extend(mask(s, markup, placeholders).text for s in segments)
    plain = [s for s in stripped if s.strip()]
    jobs.append(make_job("plain", plain, CALLBACK, options=dict(OPTIONS)))
    return jobs, plain


def _settings(amqp_url: str, engine: str, model: Path) -> Settings:
    common: dict[str, Any] = dict(
        amqp_url=amqp_url, model=str(model), device="cpu", routes=("en-de",), metrics_port=0,
        batch_max_wait_ms=5, max_batch_segments=16, drain_timeout_s=30,
    )
    if engine == "ctranslate2":
        return Settings(engine="ctranslate2", compute_type="float32", inter_threads=1,
                        intra_threads=1, **common)
    return Settings(torch_threads=1, **common)


@pytest.mark.parametrize("engine_name", ["hf", "ctranslate2"])
def test_catalog_through_the_worker_keeps_every_code(
    amqp_url: str, engine_name: str, tiny_model_path: Path, request: pytest.FixtureRequest
) -> None:
    model = (request.getfixturevalue("markup_ct2_model") if engine_name == "ctranslate2"
             else tiny_model_path)
    settings = _settings(amqp_url, engine_name, model)
    engine: Engine = load_engine(settings)
    jobs, plain = _jobs()
    asyncio.run(declare_all(settings))
    publish_all(jobs, amqp_url, job_limits(settings))

    code = asyncio.run(
        asyncio.wait_for(Worker(settings, engine).run(burst=True, health=False), timeout=280)
    )

    assert code == 0
    events = events_by_job(amqp_url)
    assert set(events) == {j["job_id"] for j in jobs}
    assert all(e["type"] == "job.completed" for e in events.values()), events
    # A plain job gets no markup warnings (the output guards may have something to say).
    assert {w["code"] for w in events["plain"]["warnings"]} <= set(GUARD_CODES)
    plain_translation = dict(zip(plain, events["plain"]["translations"], strict=True))
    options = DecodeOptions(OPTIONS["beam_size"], MAX_NEW_TOKENS)
    checked = 0
    for sent in jobs[:-1]:
        event = events[sent["job_id"]]
        markup = sent["options"]["markup"]
        placeholders = tuple(sent["options"].get("placeholders", ()))
        warned = {w["segment"]: w["code"] for w in event["warnings"]
                  if w["code"] not in GUARD_CODES}  # the markup ones
        for index, (segment, output) in enumerate(
            zip(sent["segments"], event["translations"], strict=True)
        ):
            source = parse(segment, markup, placeholders)
            result = parse(output, markup, placeholders)
            assert Counter(c.raw for c in result.codes) == Counter(c.raw for c in source.codes)
            source_unbalanced = any(w.code == UNBALANCED for w in source.warnings)
            if not source_unbalanced:
                assert not any(w.code == UNBALANCED for w in result.warnings), output
            if not source.warnings:
                assert index not in warned, (segment, output, event["warnings"])
            else:
                assert warned.get(index) in (UNBALANCED, UNPARSED)
            text = mask(segment, markup, placeholders).text
            if text.strip():
                # The words are the plain translation of the stripped source, batched with
                # other jobs or alone.
                assert _letters(output, markup, placeholders) == _letters(
                    plain_translation[text], "none")
                alone = engine.decode(engine.generate(engine.encode([text]), options))[0]
                assert plain_translation[text] == alone
            checked += 1
    assert checked == len(CATALOG)
