"""One delivery attempt with quick retries, against real loopback endpoints (no broker)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from standardwebhooks import Webhook

from mtq.core.errors import ConfigError
from mtq.core.events import webhook_id
from tests.webhooks.whtest import (
    SECRET,
    SECRET_NEXT,
    Behaviour,
    Reply,
    Seen,
    endpoint,
    event_body,
    settings_for,
)
from webhooks.delivery import Deliverer, DeliveryConfig
from webhooks.events import ResultMessage
from webhooks.policy import Ack, Park, Retry, Verdict

_MADE: list[Deliverer] = []


@pytest.fixture
async def executor() -> AsyncIterator[ThreadPoolExecutor]:
    """The deliverers' DNS pool; every deliverer a test made is closed after it."""
    pool = ThreadPoolExecutor(2)
    yield pool
    while _MADE:
        await _MADE.pop().close()
    pool.shutdown(wait=False, cancel_futures=True)


def made(deliverer: Deliverer) -> Deliverer:
    _MADE.append(deliverer)
    return deliverer


def deliverer(port: int, executor: ThreadPoolExecutor, **changes: Any) -> Deliverer:
    config = DeliveryConfig.from_settings(
        settings_for("amqp://unused/", port, webhook_quick_retries=3)
    )
    config = dataclasses.replace(config, quick_wait_max_s=0.05, **changes)
    return made(Deliverer(config, executor))


def event(url: str, job_id: str = "job-d") -> ResultMessage:
    return ResultMessage(webhook_id=webhook_id(job_id, "job.completed"), job_id=job_id,
                       event_type="job.completed", callback_url=url, body=event_body(job_id),
                       attempt=0)


def flaky(failures: int, status: int = 503) -> Behaviour:
    def behaviour(_seen: Seen, n: int) -> Reply:
        return Reply(status=status) if n <= failures else Reply(status=204)
    return behaviour


async def test_quick_retries_ride_out_a_blip(executor: ThreadPoolExecutor) -> None:
    with endpoint(behaviour=flaky(2)) as server:
        outcome = await deliverer(server.port, executor).deliver(event(server.url))
        assert outcome.verdict is Verdict.DELIVERED and outcome.status == 204
        seen = server.seen()
        assert len(seen) == 3
        assert {s.headers["webhook-id"] for s in seen} == {webhook_id("job-d", "job.completed")}
        for request in seen:  # every try is signed afresh and verifies
            assert Webhook(SECRET).verify(request.body, request.headers)["job_id"] == "job-d"
            assert request.headers["content-type"] == "application/json"


async def test_quick_retries_give_way_to_the_ladder(executor: ThreadPoolExecutor) -> None:
    with endpoint(behaviour=flaky(100)) as server:
        outcome = await deliverer(server.port, executor).deliver(event(server.url))
        assert len(server.seen()) == 4  # 1 + 3 quick retries
        assert outcome.verdict is Verdict.QUICK_RETRY and outcome.status == 503
        assert outcome.decision(1, (1, 2)) == Retry(delay_s=1, attempt=1)


@pytest.mark.parametrize(
    ("reply", "decision", "tries"),
    [
        (Reply(status=410), Park("gone", 1), 1),
        (Reply(status=301, headers={"Location": "http://127.0.0.1:1/"}), Retry(1, 1), 1),
        (Reply(status=404), Retry(1, 1), 1),
        (Reply(status=429, headers={"Retry-After": "2"}), Retry(2, 1), 1),
        (Reply(status=503, headers={"Retry-After": "2"}), Retry(2, 1), 1),
        (Reply(status=200), Ack(), 1),
    ],
)
async def test_responses_map_to_decisions(executor: ThreadPoolExecutor, reply: Reply,
                                          decision: object, tries: int) -> None:
    with endpoint(behaviour=lambda _s, _n: reply) as server:
        outcome = await deliverer(server.port, executor).deliver(event(server.url))
        assert outcome.decision(1, (1, 2)) == decision
        assert len(server.seen()) == tries


async def test_rotation_sends_two_signatures(executor: ThreadPoolExecutor) -> None:
    with endpoint() as server:
        config = DeliveryConfig.from_settings(
            settings_for("amqp://unused/", server.port, webhook_secret=(SECRET, SECRET_NEXT))
        )
        await made(Deliverer(config, executor)).deliver(event(server.url))
        [seen] = server.seen()
        assert len(seen.headers["webhook-signature"].split()) == 2
        Webhook(SECRET).verify(seen.body, seen.headers)
        Webhook(SECRET_NEXT).verify(seen.body, seen.headers)


async def test_oversized_event_is_parked_unsent(executor: ThreadPoolExecutor) -> None:
    with endpoint() as server:
        outcome = await deliverer(server.port, executor, max_request_bytes=10).deliver(
            event(server.url)
        )
        assert outcome.decision(1, (1, 2)) == Park("request_too_large", 1)
        assert server.seen() == []


async def test_refused_connection_is_quick_retried(executor: ThreadPoolExecutor) -> None:
    with endpoint() as server:
        port, url = server.port, server.url
    outcome = await deliverer(port, executor).deliver(event(url))
    assert outcome.verdict is Verdict.QUICK_RETRY and "refused" in outcome.error.lower()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"webhook_secret": ()}, "MTQ_WEBHOOK_SECRET"),
        ({"webhook_secret": ("whsec_??",)}, "base64"),
        ({"webhook_retry_schedule_s": ()}, "SCHEDULE"),
        ({"webhook_connect_timeout_s": 20.0}, "CONNECT_TIMEOUT"),
        ({"webhook_timeout_s": 600.0}, "MTQ_WEBHOOK_TIMEOUT_S"),
        ({"webhook_per_host": 0}, "PER_HOST"),
        ({"webhook_quick_retries": -1}, "QUICK_RETRIES"),
    ],
)
def test_config_errors(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DeliveryConfig.from_settings(settings_for("amqp://unused/", **changes))
