"""Markup with the translation cache and in-flight dedup: the same answer, the same warnings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mtq.core.settings import Settings
from mtq.core.vouch import CODES as GUARD_CODES
from tests.cache.test_cache_worker import CALLBACK, running, settings_for
from tests.markup.catalog import CATALOG
from worker.engines.hf import HFEngine

pytestmark = pytest.mark.integration
HTML = [s for m, p, s in CATALOG if m == "html" and not p]


def _job(job_id: str, segments: list[str], markup: str = "html") -> dict[str, Any]:
    return {"job_id": job_id, "source_lang": "en", "target_lang": "de", "segments": segments,
            "callback_url": CALLBACK,
            "options": {"beam_size": 2, "max_new_tokens": 8, "markup": markup}}


def test_a_cached_markup_segment_comes_back_with_the_same_codes_and_warnings(
    amqp_url: str, tiny_model_path: Path
) -> None:
    engine = HFEngine(Settings(model=str(tiny_model_path), torch_threads=1))
    plain = _job("plain", HTML, markup="none")

    async def scenario() -> None:
        async with running(settings_for(amqp_url, tiny_model_path), engine) as run:
            (first,) = await run.submit([_job("first", HTML)])
            (second,) = await run.submit([_job("second", HTML)])
            (untagged,) = await run.submit([plain])
        assert first["stats"]["cached_segments"] == 0
        assert second["stats"]["cached_segments"] == len([s for s in HTML if s.strip()])
        assert second["translations"] == first["translations"]
        assert second["warnings"] == first["warnings"] != []
        assert second["confidence"] == first["confidence"]  # stored with the entry
        # The markup options are part of the key: the same text without them is not a hit.
        assert untagged["stats"]["cached_segments"] == 0
        assert {w["code"] for w in untagged["warnings"]} <= set(GUARD_CODES)  # no markup ones

    asyncio.run(scenario())


def test_identical_markup_jobs_in_flight_together_get_the_same_result(
    amqp_url: str, tiny_model_path: Path
) -> None:
    engine = HFEngine(Settings(model=str(tiny_model_path), torch_threads=1))
    settings = settings_for(amqp_url, tiny_model_path, cache="off", batch_max_wait_ms=200)

    async def scenario() -> None:
        async with running(settings, engine) as run:
            events = await run.submit([_job(f"copy-{n}", HTML[:12]) for n in range(3)])
            assert run.metric("mtq_dedup_saved_segments_total") > 0
        assert all(e["translations"] == events[0]["translations"] for e in events)
        assert all(e["warnings"] == events[0]["warnings"] for e in events)

    asyncio.run(scenario())
