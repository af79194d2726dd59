"""Contract validation: one clear error per problem, the right code for each."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mtq.core.contract import (
    DecodeOptions,
    ErrorCode,
    InvalidJob,
    JobLimits,
    NotAJob,
    parse_job,
)
from mtq.core.events import (
    CompletedEvent,
    FailedEvent,
    JobStats,
    ModelInfo,
    encode_result,
    webhook_id,
)

LIMITS = JobLimits(max_job_segments=5, max_segment_chars=50, max_metadata_bytes=100)


def job(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "job_id": "order-1234.part-1",
        "source_lang": "en",
        "target_lang": "de",
        "segments": ["Hello world.", "How are you?"],
        "callback_url": "https://client.example/hooks/mt",
        "options": {"beam_size": 4, "max_new_tokens": 64},
        "metadata": {"anything": ["echoed", 1]},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def parse(body: dict[str, Any] | bytes, routes: tuple[str, ...] | None = ("en-de",)) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_job(raw, LIMITS, routes=routes)


def test_valid_job_parses_with_options_applied() -> None:
    parsed = parse(job())
    assert parsed.job_id == "order-1234.part-1"
    assert parsed.segments == ("Hello world.", "How are you?")
    assert parsed.options == DecodeOptions(beam_size=4, max_new_tokens=64)
    assert parsed.metadata == {"anything": ["echoed", 1]}
    assert parsed.route == "en-de"


def test_options_and_metadata_are_optional_and_defaults_apply() -> None:
    parsed = parse(job(options=..., metadata=...))
    assert parsed.options == DecodeOptions(LIMITS.default_beam_size, LIMITS.default_max_new_tokens)
    assert parsed.metadata == {}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00", "not valid UTF-8"),
        (b"[1, 2]", "not an object"),
        (b'"a string"', "not an object"),
        (json.dumps(job(callback_url=...)).encode(), "callback_url is missing"),
        (json.dumps(job(callback_url="ftp://x.example/")).encode(), "http or https"),
        (json.dumps(job(callback_url="https://u:p@x.example/")).encode(), "credentials"),
        (json.dumps(job(callback_url="https:///nohost")).encode(), "no host"),
        (json.dumps(job(job_id=...)).encode(), "job_id is missing"),
        (json.dumps(job(job_id=7)).encode(), "job_id is missing, not a string"),
    ],
)
def test_bodies_without_a_usable_callback_or_id_are_not_jobs(body: bytes, reason: str) -> None:
    with pytest.raises(NotAJob, match=reason):
        parse(body)


def test_a_callback_refused_once_is_refused_every_time_and_others_still_parse() -> None:
    # The URL checks are kept per URL: the answer must not depend on what came before.
    bad = json.dumps(job(callback_url="https://u:p@x.example/")).encode()
    for _ in range(3):
        with pytest.raises(NotAJob, match="credentials"):
            parse(bad)
        assert parse(job()).callback_url == "https://client.example/hooks/mt"
    with pytest.raises(NotAJob, match="longer than 2048"):
        parse(job(callback_url="https://x.example/" + "a" * 2048))


def test_empty_and_oversized_metadata() -> None:
    assert parse(job(metadata={})).metadata == {}
    with pytest.raises(InvalidJob, match=r"metadata is 1\d\d bytes") as refused:
        parse(job(metadata={"k": "v" * 100}))
    assert refused.value.metadata == {}  # never echoed back


@pytest.mark.parametrize(
    ("changes", "code", "fragment"),
    [
        ({"segments": []}, ErrorCode.INVALID_JOB, "segments"),
        ({"segments": None}, ErrorCode.INVALID_JOB, "segments"),
        ({"segments": ["ok", 3]}, ErrorCode.INVALID_JOB, "segments.1"),
        ({"segments": "not a list"}, ErrorCode.INVALID_JOB, "segments"),
        ({"segments": ["x"] * 6}, ErrorCode.JOB_TOO_LARGE, "6 segments; the limit is 5"),
        ({"segments": ["x" * 51]}, ErrorCode.JOB_TOO_LARGE, "segments[0] has 51 characters"),
        ({"segments": ["nul\x00byte"]}, ErrorCode.INVALID_JOB, "U+0000"),
        ({"segments": ["bell\x07"]}, ErrorCode.INVALID_JOB, "U+0007"),
        ({"job_id": "x" * 129}, ErrorCode.INVALID_JOB, "job_id"),
        ({"job_id": "bad id!"}, ErrorCode.INVALID_JOB, "job_id"),
        ({"source_lang": ...}, ErrorCode.INVALID_JOB, "source_lang: required field is missing"),
        ({"source_lang": 5}, ErrorCode.INVALID_JOB, "source_lang"),
        ({"priority": "high"}, ErrorCode.INVALID_JOB, "priority: unknown field"),
        ({"options": {"beam_size": 0}}, ErrorCode.INVALID_JOB, "beam_size must be between 1"),
        ({"options": {"beam_size": 1000}}, ErrorCode.INVALID_JOB, "beam_size must be between 1"),
        ({"options": {"beam_size": "4"}}, ErrorCode.INVALID_JOB, "options.beam_size"),
        ({"options": {"max_new_tokens": -1}}, ErrorCode.INVALID_JOB, "max_new_tokens"),
        ({"options": {"max_new_tokens": 10**9}}, ErrorCode.INVALID_JOB, "max_new_tokens"),
        ({"options": {"temperature": 1.0}}, ErrorCode.INVALID_JOB, "options.temperature"),
        ({"metadata": {"blob": "x" * 200}}, ErrorCode.INVALID_JOB, "metadata is"),
        ({"metadata": [1, 2]}, ErrorCode.INVALID_JOB, "metadata"),
        ({"target_lang": "fr"}, ErrorCode.UNSUPPORTED_LANGUAGE_PAIR, "en-fr is not served"),
    ],
)
def test_contract_violations_get_a_code_and_a_clear_message(
    changes: dict[str, Any], code: ErrorCode, fragment: str
) -> None:
    with pytest.raises(InvalidJob) as caught:
        parse(job(**changes))
    assert caught.value.code is code
    assert fragment in caught.value.message
    assert caught.value.callback_url == "https://client.example/hooks/mt"


def test_invalid_job_echoes_its_metadata_and_id() -> None:
    with pytest.raises(InvalidJob) as caught:
        parse(job(segments=[], metadata={"order": 7}))
    assert caught.value.job_id == "order-1234.part-1"
    assert caught.value.metadata == {"order": 7}


def test_oversized_metadata_is_not_echoed_back() -> None:
    with pytest.raises(InvalidJob) as caught:
        parse(job(metadata={"blob": "x" * 200}))
    assert caught.value.metadata == {}


def test_every_problem_is_listed_once() -> None:
    with pytest.raises(InvalidJob) as caught:
        parse(job(source_lang=..., target_lang=..., segments=[]))
    message = caught.value.message
    assert message.count("source_lang") == 1 and message.count("target_lang") == 1
    assert "segments" in message


def test_tab_newline_and_unicode_are_allowed_in_segments() -> None:
    parsed = parse(job(segments=["a\tb", "line\nbreak", "Grüße 👋", ""]))
    assert parsed.segments[2] == "Grüße 👋"


def test_completed_event_matches_the_contract() -> None:
    parsed = parse(job())
    typed = CompletedEvent(
        parsed, ("Hallo Welt.", "Wie geht's?"), ModelInfo("opus", "abc"), JobStats(2, 5, 7),
        (0.75, 0.5),
    )
    event = typed.to_json()
    assert event["type"] == "job.completed"
    assert event["translations"] == ["Hallo Welt.", "Wie geht's?"]
    assert event["confidence"] == [0.75, 0.5] and event["warnings"] == []
    assert event["model"]["name"] == "opus" and event["model"]["revision"] == "abc"
    assert event["metadata"] == parsed.metadata
    assert event["stats"] == {"segments": 2, "queue_ms": 5, "compute_ms": 7,
                              "cached_segments": 0}
    outgoing = encode_result(typed, parsed.callback_url)
    assert json.loads(outgoing.body) == event


def test_completed_event_refuses_misaligned_translations() -> None:
    with pytest.raises(ValueError, match="1 translations for 2 segments"):
        CompletedEvent(parse(job()), ("only one",), ModelInfo("m", "r"), JobStats(2, 0, 0),
                       (1.0,))


def test_failed_event_matches_the_contract() -> None:
    event = FailedEvent("j1", ErrorCode.SEGMENT_FAILED, "boom", {"k": 1}).to_json()
    assert event == {
        "type": "job.failed",
        "job_id": "j1",
        "error": {"code": "segment_failed", "message": "boom"},
        "metadata": {"k": 1},
    }


def test_encoded_result_is_compact_utf8_with_routing_headers() -> None:
    parsed = parse(job(metadata={"k": "ü"}))
    event = FailedEvent(parsed.job_id, ErrorCode.INTERNAL_ERROR, "boom", parsed.metadata)
    outgoing = encode_result(event, parsed.callback_url)
    assert b'"k":"\xc3\xbc"' in outgoing.body  # ensure_ascii=False, compact separators
    assert outgoing.webhook_id == webhook_id(parsed.job_id, "job.failed")
    assert outgoing.headers == {
        "x-mtq-callback-url": parsed.callback_url,
        "x-mtq-job-id": parsed.job_id,
        "x-mtq-event-type": "job.failed",
        "x-mtq-webhook-id": outgoing.webhook_id,
    }


def test_failures_after_parsing_echo_the_jobs_metadata_and_tenant() -> None:
    from mtq.core.events import FailedEvent

    body = json.dumps({"job_id": "t-1", "source_lang": "en", "target_lang": "de",
                       "segments": ["Hi"], "callback_url": "https://c.example/h",
                       "metadata": {"k": 1}, "tenant": "acme"}).encode()
    job = parse_job(body, JobLimits())
    refused = InvalidJob.for_job(job, ErrorCode.JOB_TOO_LARGE, "too long")
    assert (refused.job_id, refused.metadata, refused.tenant) == ("t-1", {"k": 1}, "acme")
    failed = FailedEvent.for_job(job, ErrorCode.SEGMENT_FAILED, "segments[0] failed").to_json()
    assert failed["tenant"] == "acme" and failed["metadata"] == {"k": 1}


def test_the_forbidden_control_characters_are_unicodes_controls_but_tab_and_newlines() -> None:
    import unicodedata

    from mtq.core.contract import FORBIDDEN_CONTROL

    for code in range(0x3000):
        ch = chr(code)
        expected = unicodedata.category(ch) == "Cc" and ch not in "\t\n\r"
        assert (FORBIDDEN_CONTROL.search(ch) is not None) is expected, f"U+{code:04X}"
