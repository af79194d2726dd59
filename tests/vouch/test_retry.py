"""``options.on_suspect: "retry"``: the plan per finding, the choice, and through a worker:
a suspect segment decoded again, its batch-mates untouched."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from mtq.core.vouch.retry import outcome, retry_is_better, retry_plan
from tests.cache.test_cache_worker import CALLBACK, running, settings_for
from tests.vouch.scripted import Force, Loop, scripted
from worker.engines.hf import HFEngine

OPTIONS = DecodeOptions(beam_size=2, max_new_tokens=12)


def test_each_finding_asks_for_the_setting_that_addresses_it() -> None:
    def plan(*codes: str, options: DecodeOptions = OPTIONS) -> DecodeOptions | None:
        found = retry_plan(options, codes, max_beam=8, token_limit=16)
        return None if found is None else found.options

    assert plan("truncated") == DecodeOptions(2, 16, retry=True)  # doubled, up to the limit
    assert plan("repetition") == DecodeOptions(2, 12, 1.2, 3, retry=True)
    for code in ("untranslated", "length_ratio", "low_confidence"):
        assert plan(code) == DecodeOptions(4, 12, retry=True)
    assert plan("truncated", options=DecodeOptions(8, 16)) is None  # nothing left to raise
    assert plan("low_confidence", options=DecodeOptions(8, 16)) is None
    both = retry_plan(OPTIONS, {"truncated", "repetition"}, max_beam=8, token_limit=512)
    assert both is not None and both.how == (
        "token cap 24, repetition penalty 1.2, no repeated 3-grams")


def test_the_retry_is_kept_when_it_has_fewer_findings_or_as_many_and_more_confidence() -> None:
    assert retry_is_better(["truncated"], 0.9, [], 0.1)
    assert not retry_is_better([], 0.3, ["repetition"], 0.9)
    assert retry_is_better(["low_confidence"], 0.3, ["low_confidence"], 0.4)
    assert not retry_is_better(["low_confidence"], 0.3, ["low_confidence"], 0.3)
    assert outcome("beam 4", True, ()) == "; retried (beam 4): the retry is clean and was kept"
    assert "the first output was kept" in outcome("beam 4", False, ("truncated",))


def test_a_retry_replaces_a_looping_output_and_never_touches_its_batch_mates(
    amqp_url: str, tiny_model_path: Path
) -> None:
    engine = HFEngine(Settings(model=str(tiny_model_path), torch_threads=1))
    looping, mate = "Please restart the application now.", "The weather is nice today."
    loop_ids, mate_ids = engine.encode([looping, mate])
    clean = tuple(engine.encode(["Bitte starten Sie neu."])[0][:-1])
    first = {tuple(loop_ids): Loop(tuple(engine.encode(["la di"])[0][:-1]))}
    second = {tuple(loop_ids): Force(clean)}
    options = {"beam_size": 2, "max_new_tokens": 24}
    jobs = [
        {"job_id": "suspect", "source_lang": "en", "target_lang": "de", "segments": [looping],
         "callback_url": CALLBACK, "options": {**options, "on_suspect": "retry"}},
        {"job_id": "mate", "source_lang": "en", "target_lang": "de", "segments": [mate],
         "callback_url": CALLBACK, "options": options},
    ]
    with scripted(engine, first, retry=second):
        alone = engine.decode(engine.generate([mate_ids], DecodeOptions(2, 24)))

        async def scenario() -> list[dict[str, Any]]:
            async with running(settings_for(amqp_url, tiny_model_path, cache="off"),
                               engine) as run:
                return await run.submit(jobs)

        suspect, batch_mate = asyncio.run(scenario())
    assert suspect["translations"] == engine.decode([[0, *clean]])
    assert suspect["confidence"] == [1.0]  # the scripted retry: every token forced
    codes = {w["code"] for w in suspect["warnings"]}
    assert codes == {"truncated", "repetition"}  # the first output's findings, annotated
    for warning in suspect["warnings"]:
        assert warning["message"].endswith(
            "; retried (token cap 48, repetition penalty 1.2, no repeated 3-grams): "
            "the retry is clean and was kept")
    assert batch_mate["translations"] == alone  # decoded once, as alone, never retried
    assert not any("retried" in w["message"] for w in batch_mate["warnings"])
