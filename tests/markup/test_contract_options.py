"""The contract's markup options and the result's per-segment warnings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mtq.core.contract import ErrorCode, InvalidJob, JobLimits, parse_job
from mtq.core.events import CompletedEvent, JobStats, ModelInfo
from mtq.core.markup import MarkupOptions, SegmentWarning

LIMITS = JobLimits()


def body(**options: Any) -> bytes:
    return json.dumps({
        "job_id": "j1", "source_lang": "en", "target_lang": "de",
        "segments": ['Click <g id="1">Save</g>.'], "callback_url": "https://client.example/h",
        "options": options,
    }).encode()


def test_markup_options_default_to_off() -> None:
    assert parse_job(body(), LIMITS).markup == MarkupOptions()
    assert not parse_job(body(), LIMITS).markup.active


def test_markup_options_are_read() -> None:
    job = parse_job(body(markup="xml", placeholders=["curly", "printf"]), LIMITS)
    assert job.markup == MarkupOptions("xml", ("curly", "printf"))
    assert job.options == parse_job(body(), LIMITS).options  # batches still group as before


@pytest.mark.parametrize(("options", "message"), [
    ({"markup": "markdown"}, "options.markup must be one of none, html, xml (got 'markdown')"),
    ({"markup": 1}, "options.markup: Input should be a valid string"),
    ({"placeholders": ["icu"]},
     "options.placeholders: unknown pattern 'icu' (known: double_curly, curly, printf)"),
    ({"placeholders": "printf"}, "options.placeholders: Input should be a valid list"),
])
def test_invalid_markup_options_are_invalid_job(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidJob) as raised:
        parse_job(body(**options), LIMITS)
    assert raised.value.code is ErrorCode.INVALID_JOB
    assert raised.value.message == message


def test_warnings_appear_for_every_job() -> None:
    model, stats = ModelInfo("m", "r"), JobStats(1, 0, 0)
    plain = parse_job(body(), LIMITS)
    assert CompletedEvent(plain, ("x",), model, stats, (1.0,)).to_json()["warnings"] == []
    marked = parse_job(body(markup="xml"), LIMITS)
    assert CompletedEvent(marked, ("x",), model, stats, (1.0,)).to_json()["warnings"] == []
    warning = SegmentWarning(0, "markup_unbalanced", "'<b>' has no matching tag")
    event = CompletedEvent(marked, ("x",), model, stats, (1.0,), warnings=(warning,))
    assert event.to_json()["warnings"] == [
        {"segment": 0, "code": "markup_unbalanced", "message": "'<b>' has no matching tag"}]
