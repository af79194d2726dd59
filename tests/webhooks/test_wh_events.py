"""Result message headers and per-host gates (no broker)."""

from __future__ import annotations

import pytest

from mtq.core.events import result_headers, webhook_id
from mtq.core.headers import (
    ATTEMPT_HEADER,
    LAST_ERROR_HEADER,
    LAST_STATUS_HEADER,
    REASON_HEADER,
    REDRIVES_HEADER,
    TENANT_HEADER,
)
from webhooks.events import (
    InvalidResult,
    deferred_headers,
    parked_headers,
    parse_result,
    redrive_headers,
    retry_headers,
)
from webhooks.parking import ParkedEvent


def test_parse_result_reads_headers() -> None:
    headers = result_headers("job-1", "job.failed", "https://Hooks.Example.com/x")
    event = parse_result(b"{}", headers)
    assert event.webhook_id == webhook_id("job-1", "job.failed")
    assert event.host == "hooks.example.com"
    assert event.attempt == 0
    assert parse_result(b"{}", {**headers, ATTEMPT_HEADER: 3}).attempt == 3
    assert parse_result(b"{}", {**headers, ATTEMPT_HEADER: b"2"}).attempt == 2


@pytest.mark.parametrize("missing", ["x-mtq-job-id", "x-mtq-event-type", "x-mtq-callback-url"])
def test_parse_result_rejects_incomplete_messages(missing: str) -> None:
    headers = result_headers("job-1", "job.completed", "https://example.com/")
    del headers[missing]
    with pytest.raises(InvalidResult):
        parse_result(b"{}", headers)


def test_headers_across_the_ladder() -> None:
    original = {**result_headers("j", "job.completed", "https://example.com/"),
                "x-death": [{"count": 1}], "x-delivery-count": 2}
    retried = retry_headers(original, 1, 503, "HTTP 503")
    assert retried[ATTEMPT_HEADER] == 1 and retried[LAST_STATUS_HEADER] == 503
    assert "x-death" not in retried and "x-delivery-count" not in retried
    parked = parked_headers(retried, "retries_exhausted", 3, None, "x" * 1000)
    assert parked[REASON_HEADER] == "retries_exhausted"
    assert LAST_STATUS_HEADER not in parked and len(parked[LAST_ERROR_HEADER]) == 500
    again = redrive_headers(parked)
    assert again[ATTEMPT_HEADER] == 0 and again[REDRIVES_HEADER] == 1
    assert REASON_HEADER not in again and LAST_ERROR_HEADER not in again
    assert redrive_headers(again)[REDRIVES_HEADER] == 2
    assert deferred_headers(retried)[ATTEMPT_HEADER] == 1


def test_broker_parked_events_show_the_death_reason() -> None:
    headers = {**result_headers("j", "job.completed", "https://h.example/"),
               "x-death": [{"reason": b"delivery_limit", "count": 1}]}
    assert ParkedEvent.from_headers(headers).reason == "broker:delivery_limit"


def test_the_tenant_travels_in_a_header_and_older_events_are_read_from_the_body() -> None:
    headers = result_headers("j", "job.completed", "https://h.example/", "acme")
    assert headers[TENANT_HEADER] == "acme"
    body = b'{"type": "job.completed", "job_id": "j"}'
    assert parse_result(body, headers).tenant == "acme"  # the header, no body parsing
    older = result_headers("j", "job.completed", "https://h.example/")
    assert TENANT_HEADER not in older
    assert parse_result(b'{"job_id": "j", "tenant": "beta"}', older).tenant == "beta"
    bad = {**older, TENANT_HEADER: "not a tenant!"}
    assert parse_result(body, bad).tenant == ""
