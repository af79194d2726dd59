"""Batch messages on ``mtq.results`` (several events in one message, ``mtq/core/result_batch.py``)
through a real dispatcher: every event is delivered, retried and parked as its own."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pika
import pytest
from standardwebhooks import Webhook

from mtq.core import result_batch
from mtq.core.events import webhook_id
from mtq.core.headers import ATTEMPT_HEADER, JOB_ID_HEADER, LAST_ERROR_HEADER
from mtq.core.topology import PARKED_QUEUE, RESULTS_QUEUE, retry_queue
from tests.webhooks.whtest import (
    SECRET,
    Reply,
    batch_of,
    broker,
    counts,
    declare_topology,
    dispatching,
    endpoint,
    event_body,
    eventually,
    pika_channel,
    settings_for,
)
from webhooks.http.ssrf import system_resolver
from webhooks.parking import Selector, list_parked, redrive

pytestmark = pytest.mark.integration


async def test_each_event_of_a_batch_is_delivered_signed_with_its_own_bytes(
    amqp_url: str,
) -> None:
    with endpoint() as server:
        async with broker(amqp_url) as b, dispatching(settings_for(amqp_url, server.port)):
            await b.publish_batch([(f"b-{n}", server.url) for n in range(5)])
            await eventually(lambda: len(server.delivered()) == 5, what="five deliveries")

            async def acked() -> bool:
                return await b.count(RESULTS_QUEUE) == 0
            await eventually(acked, what="the batch acked")
    by_job = {s.job_id: s for s in server.delivered()}
    assert sorted(by_job) == [f"b-{n}" for n in range(5)]
    for job_id, request in by_job.items():
        assert request.body == event_body(job_id)  # sliced out, never re-encoded
        Webhook(SECRET).verify(request.body, request.headers)
        assert request.headers["webhook-id"] == webhook_id(job_id, "job.completed")


async def test_a_failing_receiver_sends_only_its_own_event_down_the_ladder(
    amqp_url: str,
) -> None:
    with endpoint() as good, endpoint(behaviour=lambda _s, _n: Reply(status=500)) as bad:
        settings = settings_for(amqp_url, good.port, bad.port, webhook_retry_schedule_s=(30,))
        async with broker(amqp_url, schedule=(30,)) as b, dispatching(settings):
            await b.publish_batch([("ok-1", good.url), ("down-1", bad.url), ("ok-2", good.url)])
            await eventually(lambda: len(good.delivered()) == 2, what="the healthy deliveries")

            async def moved() -> bool:
                return await b.count(retry_queue(30)) == 1
            await eventually(moved, what="the failed event on the ladder")
            assert await b.count(RESULTS_QUEUE) == 0  # the batch itself is settled
    with pika_channel(amqp_url) as channel:
        method, props, body = channel.basic_get(retry_queue(30), auto_ack=True)
    assert method is not None
    headers = props.headers or {}
    # On the ladder as a single-event message, exactly as a worker would have published it.
    assert not result_batch.is_batch(headers)
    assert headers[JOB_ID_HEADER] == "down-1" and headers[ATTEMPT_HEADER] == 1
    assert props.message_id == webhook_id("down-1", "job.completed")
    assert body == event_body("down-1")
    assert sorted(s.job_id for s in good.delivered()) == ["ok-1", "ok-2"]


async def test_an_event_the_dispatcher_crashes_on_goes_down_the_ladder_alone(
    amqp_url: str,
) -> None:
    def resolver(host: str, port: int) -> Sequence[str]:
        if host == "poison.test":
            raise RuntimeError("a bug")  # not a resolution failure: the dispatcher's own crash
        return system_resolver(host, port)

    with endpoint() as server:
        poison = f"http://poison.test:{server.port}/hook"
        settings = settings_for(amqp_url, server.port, webhook_retry_schedule_s=(30,))
        async with broker(amqp_url, schedule=(30,)) as b, dispatching(settings, resolver):
            await b.publish_batch([("ok-1", server.url), ("poison-1", poison),
                                   ("ok-2", server.url)])
            await eventually(lambda: len(server.delivered()) == 2, what="the healthy deliveries")

            async def settled() -> bool:
                return (await b.count(retry_queue(30)) == 1
                        and await b.count(RESULTS_QUEUE) == 0)
            await eventually(settled, what="the poison event alone on the ladder")
    with pika_channel(amqp_url) as channel:
        _, props, body = channel.basic_get(retry_queue(30), auto_ack=True)
    headers = props.headers or {}
    assert headers[JOB_ID_HEADER] == "poison-1" and headers[ATTEMPT_HEADER] == 1
    assert "the dispatcher failed" in headers[LAST_ERROR_HEADER]
    assert body == event_body("poison-1")
    # Delivered once each: the batch was not requeued for its poison event.
    assert sorted(s.job_id for s in server.delivered()) == ["ok-1", "ok-2"]


async def test_a_batch_whose_frame_does_not_add_up_is_parked_whole(amqp_url: str) -> None:
    with endpoint() as server:
        headers, body = batch_of([(f"x-{n}", server.url) for n in range(2)])
        async with broker(amqp_url) as b, dispatching(settings_for(amqp_url, server.port)):
            await b.publish_raw(headers, body[:-2] + b"]")  # one byte short

            async def parked() -> bool:
                return await b.count(PARKED_QUEUE) == 1
            await eventually(parked, what="the broken batch parked")
        assert server.seen() == []
    [event] = list_parked(amqp_url)
    assert event.reason == "invalid_message"


def test_a_batch_parked_by_the_broker_is_listed_event_by_event_and_redriven_whole(
    amqp_url: str,
) -> None:
    events = [("q-1", "https://a.example/hook"), ("q-2", "https://b.example/hook")]
    headers, body = batch_of(events)
    declare_topology(amqp_url)
    with pika_channel(amqp_url) as channel:
        channel.confirm_delivery()
        channel.basic_publish("", PARKED_QUEUE, body, pika.BasicProperties(
            headers={**headers, "x-mtq-reason": "broker:delivery_limit"},
            content_type="application/json", delivery_mode=2,
        ))
    listed = list_parked(amqp_url)
    assert [(e.job_id, e.host, e.reason) for e in listed] == [
        ("q-1", "a.example", "broker:delivery_limit"),
        ("q-2", "b.example", "broker:delivery_limit"),
    ]
    moved = redrive(amqp_url, Selector(host="b.example"))
    assert [e.job_id for e in moved] == ["q-1", "q-2"]  # one message: it moves whole
    assert counts(amqp_url, PARKED_QUEUE, RESULTS_QUEUE) == {PARKED_QUEUE: 0, RESULTS_QUEUE: 1}
    with pika_channel(amqp_url) as channel:
        _, props, moved_body = channel.basic_get(RESULTS_QUEUE, auto_ack=True)
    assert moved_body == body
    parts = result_batch.unpack(props.headers or {}, moved_body)
    assert [json.loads(b)["job_id"] for _, b in parts] == ["q-1", "q-2"]
