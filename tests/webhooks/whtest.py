"""Helpers for the webhooks tests: programmable loopback endpoints, a broker client, waits."""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel

from mtq.core import result_batch
from mtq.core.events import encode_json, result_headers, webhook_id
from mtq.core.settings import Settings
from mtq.core.topology import RESULTS_EXCHANGE, RESULTS_ROUTING_KEY, declare_results_topology
from tests.harness import LoopbackReceiver, Received, Reply, Responder
from webhooks.dispatcher import run_dispatcher
from webhooks.http.ssrf import Resolver, system_resolver
from webhooks.metrics import DispatcherMetrics

SECRET = "whsec_" + base64.b64encode(b"mtq-webhooks-test-secret-0123456").decode()
SECRET_NEXT = "whsec_" + base64.b64encode(b"mtq-webhooks-next-secret-abcdefg").decode()
SCHEDULE = (1, 2)


# The webhooks tests' names for the harness's loopback receiver (tests/harness/receiver.py).
Seen = Received
Behaviour = Responder


class Endpoint(LoopbackReceiver):
    """The harness's receiver as these tests use it: kept alive (HTTP/1.1), as real receivers
    are; ``behaviour(request, n)`` picks the reply to the ``n``-th request (1-based)."""

    def __init__(self, host: str = "127.0.0.1", behaviour: Behaviour | None = None,
                 tls: ssl.SSLContext | None = None, port: int = 0) -> None:
        super().__init__(host, behaviour or (lambda _seen, _n: Reply()), tls=tls, port=port,
                         keep_alive=True)


@contextmanager
def endpoint(host: str = "127.0.0.1", behaviour: Behaviour | None = None,
             tls: ssl.SSLContext | None = None, port: int = 0) -> Iterator[Endpoint]:
    server = Endpoint(host, behaviour, tls, port)
    try:
        yield server
    finally:
        server.stop()



def settings_for(amqp_url: str, *ports: int, **changes: Any) -> Settings:
    """Fast test settings: loopback exempted, short ladder, short timeouts, no quick retries."""
    base = Settings(
        amqp_url=amqp_url,
        webhook_secret=(SECRET,),
        webhook_allow_networks=("127.0.0.0/8",),
        webhook_allow_ports=(80, 443, *ports),
        webhook_retry_schedule_s=SCHEDULE,
        webhook_quick_retries=0,
        webhook_timeout_s=2.0,
        webhook_connect_timeout_s=1.0,
        dispatcher_prefetch=16,
        drain_timeout_s=10.0,
        metrics_port=0,  # no probe server unless a test asks for one
    )
    return base.replace(**changes)


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 20.0,
                     what: str = "condition") -> None:
    """Poll ``check`` until true; fail after ``timeout`` seconds. Never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def wait_sync(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def event_body(job_id: str, event_type: str = "job.completed") -> bytes:
    if event_type == "job.failed":
        return encode_json({"type": event_type, "job_id": job_id,
                             "error": {"code": "internal_error", "message": "boom"},
                             "metadata": {}})
    return encode_json({"type": event_type, "job_id": job_id, "source_lang": "en",
                         "target_lang": "de", "translations": ["Hallo Welt."],
                         "model": {"name": "tiny", "revision": "0"}, "metadata": {"k": "ü"},
                         "stats": {"segments": 1, "queue_ms": 0, "compute_ms": 1}})


def batch_of(events: list[tuple[str, str]]) -> tuple[dict[str, Any], bytes]:
    """Headers and body of one batch message holding ``(job_id, callback_url)`` completed
    events, as a worker publishes the events it confirms together (``mtq/core/result_batch.py``)."""
    return result_batch.pack([
        (result_headers(job_id, "job.completed", url), event_body(job_id))
        for job_id, url in events
    ])


class Broker:
    """What a worker does (publish results with confirms) plus queue peeking for asserts."""

    def __init__(self, channel: AbstractChannel) -> None:
        self.channel = channel

    async def publish(self, job_id: str, callback_url: str, event_type: str = "job.completed",
                      headers: dict[str, Any] | None = None) -> str:
        msg_id = webhook_id(job_id, event_type)
        exchange = await self.channel.get_exchange(RESULTS_EXCHANGE)
        message = aio_pika.Message(
            body=event_body(job_id, event_type),
            headers=headers if headers is not None
            else dict[str, Any](result_headers(job_id, event_type, callback_url)),
            content_type="application/json", message_id=msg_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await exchange.publish(message, routing_key=RESULTS_ROUTING_KEY)
        return msg_id

    async def publish_batch(self, events: list[tuple[str, str]]) -> None:
        """Several ``(job_id, callback_url)`` completed events in one message."""
        await self.publish_raw(*batch_of(events))

    async def publish_raw(self, headers: dict[str, Any], body: bytes) -> None:
        exchange = await self.channel.get_exchange(RESULTS_EXCHANGE)
        await exchange.publish(aio_pika.Message(
            body=body, headers=headers, content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ), routing_key=RESULTS_ROUTING_KEY)

    async def count(self, queue: str) -> int:
        """Ready messages in ``queue``. (A robust channel caches passive declares, so the raw
        channel is asked.)"""
        channel = await self.channel.get_underlay_channel()
        declared = await channel.queue_declare(queue, passive=True)
        assert declared.message_count is not None
        return declared.message_count


@asynccontextmanager
async def broker(amqp_url: str, schedule: tuple[int, ...] = SCHEDULE,
                 delivery_limit: int = 10) -> AsyncIterator[Broker]:
    connection = await aio_pika.connect_robust(
        amqp_url, client_properties={"connection_name": "webhooks-test-publisher"}
    )
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare_results_topology(channel, schedule, delivery_limit)
        yield Broker(channel)


@asynccontextmanager
async def dispatching(settings: Settings, resolver: Resolver = system_resolver,
                      metrics: DispatcherMetrics | None = None
                      ) -> AsyncIterator[asyncio.Task[int]]:
    """An in-process dispatcher on this event loop, stopped (drained) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_dispatcher(settings, stop=stop, resolver=resolver, handle_signals=False,
                       metrics=metrics)
    )
    try:
        yield task
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


def run_cli(argv: list[str], settings: Settings) -> int:
    """Run a ``mtq`` subcommand from webhooks.cli the way mtq.cli.main would."""
    import argparse

    from webhooks.cli import register

    parser = argparse.ArgumentParser(prog="mtq")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args, settings)
    return result


def metric(metrics: DispatcherMetrics, name: str, **labels: str) -> float:
    """One sample of a dispatcher's own registry (0 when never recorded)."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


@contextmanager
def pika_channel(amqp_url: str) -> Iterator[Any]:
    """A blocking channel for sync tests (publishing, counting, peeking)."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        yield connection.channel()
    finally:
        connection.close()


def counts(amqp_url: str, *queues: str) -> dict[str, int]:
    with pika_channel(amqp_url) as channel:
        return {q: channel.queue_declare(q, passive=True).method.message_count for q in queues}


def declare_topology(amqp_url: str, schedule: tuple[int, ...] = SCHEDULE) -> None:
    async def declare() -> None:
        async with broker(amqp_url, schedule):
            pass
    asyncio.run(declare())
