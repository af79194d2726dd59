"""``mtq webhooks list|inspect|redrive`` against a real broker (no dispatcher needed)."""

from __future__ import annotations

import json
from typing import Any

import pika
import pytest

from mtq.core.events import result_headers, webhook_id
from mtq.core.headers import ATTEMPT_HEADER, REASON_HEADER, REDRIVES_HEADER
from mtq.core.topology import PARKED_QUEUE, RESULTS_QUEUE
from tests.webhooks.whtest import (
    counts,
    declare_topology,
    event_body,
    pika_channel,
    run_cli,
    settings_for,
)
from webhooks.events import parked_headers
from webhooks.parking import list_parked

pytestmark = pytest.mark.integration

PARKED = [
    ("p-1", "https://a.example/hook", "retries_exhausted", 503, "HTTP 503"),
    ("p-2", "https://a.example/hook", "gone", 410, "HTTP 410"),
    ("p-3", "https://B.example/other", "blocked_destination", None, "10.0.0.1 is private"),
]


def park_some(amqp_url: str) -> None:
    declare_topology(amqp_url)
    with pika_channel(amqp_url) as channel:
        channel.confirm_delivery()
        for job_id, url, reason, status, error in PARKED:
            headers = parked_headers(result_headers(job_id, "job.completed", url), reason, 3,
                                     status, error)
            channel.basic_publish("", PARKED_QUEUE, event_body(job_id), pika.BasicProperties(
                headers=headers, message_id=webhook_id(job_id, "job.completed"),
                content_type="application/json", delivery_mode=2,
            ))


def results(amqp_url: str) -> list[tuple[dict[str, Any], bytes]]:
    found: list[tuple[dict[str, Any], bytes]] = []
    with pika_channel(amqp_url) as channel:
        while True:
            method, props, body = channel.basic_get(RESULTS_QUEUE, auto_ack=True)
            if method is None:
                return found
            found.append((props.headers, body))


def test_list_and_inspect(amqp_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    park_some(amqp_url)
    settings = settings_for(amqp_url)
    assert run_cli(["webhooks", "inspect"], settings) == 0
    out = capsys.readouterr().out
    assert "parked events: 3" in out
    assert "2  a.example" in out and "1  b.example" in out
    assert "503 HTTP 503" in out

    assert run_cli(["webhooks", "list", "--json", "--host", "a.example"], settings) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {item["job_id"] for item in listed} == {"p-1", "p-2"}
    assert {item["reason"] for item in listed} == {"retries_exhausted", "gone"}

    assert run_cli(["webhooks", "parked", "--job-id", "p-3"], settings) == 0
    out = capsys.readouterr().out
    assert "reason=blocked_destination" in out and "1 parked event(s)" in out

    assert run_cli(["webhooks", "inspect", "--json"], settings) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 3 and summary["by_reason"]["gone"] == 1
    # Looking is harmless: everything is still parked.
    assert counts(amqp_url, PARKED_QUEUE)[PARKED_QUEUE] == 3


def test_redrive_by_host_then_all(amqp_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    park_some(amqp_url)
    settings = settings_for(amqp_url)
    assert run_cli(["webhooks", "redrive", "--all", "--dry-run"], settings) == 0
    assert "would redrive 3" in capsys.readouterr().out
    assert counts(amqp_url, PARKED_QUEUE, RESULTS_QUEUE) == {PARKED_QUEUE: 3, RESULTS_QUEUE: 0}

    assert run_cli(["webhooks", "redrive", "--host", "b.example"], settings) == 0
    assert "redrove 1" in capsys.readouterr().out
    [(headers, body)] = results(amqp_url)
    assert body == event_body("p-3")  # the exact bytes, never re-serialized
    assert headers[ATTEMPT_HEADER] == 0 and headers[REDRIVES_HEADER] == 1
    assert REASON_HEADER not in headers and "x-mtq-last-error" not in headers
    assert headers["x-mtq-webhook-id"] == webhook_id("p-3", "job.completed")

    assert run_cli(["webhooks", "redrive", "--all", "--limit", "1"], settings) == 0
    assert counts(amqp_url, PARKED_QUEUE)[PARKED_QUEUE] == 1
    assert run_cli(["webhooks", "redrive", "--all"], settings) == 0
    assert counts(amqp_url, PARKED_QUEUE, RESULTS_QUEUE) == {PARKED_QUEUE: 0, RESULTS_QUEUE: 2}


def test_nothing_parked_yet(amqp_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # A fresh vhost: the parked queue does not even exist until a dispatcher starts.
    assert run_cli(["webhooks", "list"], settings_for(amqp_url)) == 0
    assert "0 parked event(s)" in capsys.readouterr().out
    assert run_cli(["webhooks", "redrive", "--job-id", "x"], settings_for(amqp_url)) == 0



def test_redrive_limit_moves_the_first_matches_and_keeps_the_rest(
    amqp_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    park_some(amqp_url)
    settings = settings_for(amqp_url)
    assert run_cli(["webhooks", "redrive", "--all", "--limit", "1"], settings) == 0
    assert "redrove 1 parked event(s)" in capsys.readouterr().out
    assert [json.loads(body)["job_id"] for _headers, body in results(amqp_url)] == ["p-1"]
    remaining = list_parked(amqp_url)
    assert [event.job_id for event in remaining] == ["p-2", "p-3"]  # in their order
