"""The dispatcher: consume ``mtq.results``, deliver each event, settle it.

AMQP and HTTP share the event loop (aiohttp): a slow receiver holds only its own delivery
task, never the loop, so heartbeats and acks are not held up; only DNS lookups (the system
resolver blocks) run on a thread pool. The consumer's prefetch (per consumer: quorum queues
reject global QoS) bounds the messages held; ``admission.py`` bounds the deliveries at once, per
tenant, per receiver host and in total. Events waiting there stay unacked: back-pressure, not
the retry ladder. A message may
hold several events (``mtq/core/result_batch.py``): each is handled as a message of its own
(``webhooks/batch.py``), and the message is acked once all of them are settled.

SIGTERM (Kubernetes scale-in) stops consuming, lets in-flight deliveries finish within
``drain_timeout_s`` (keep it below ``terminationGracePeriodSeconds``) and exits 0. Anything
not settled by then is simply left unacked; the broker redelivers it to another dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from mtq.core import result_batch
from mtq.core.callback_policy import STATUS_ONLY_CALLBACK
from mtq.core.headers import JOB_ID_HEADER
from mtq.core.settings import Settings
from mtq.core.topology import RESULTS_QUEUE
from webhooks.batch import BatchSettlement, EventPart
from webhooks.connecting import open_results_queue, wait_for_connection
from webhooks.delivery import Deliverer, DeliveryConfig
from webhooks.events import InvalidResult, ResultMessage, header_text, parse_result
from webhooks.http.ssrf import Resolver, system_resolver
from webhooks.metrics import DispatcherMetrics, serve_probes
from webhooks.pacing.admission import Admission
from webhooks.pacing.hostgates import Busy
from webhooks.policy import Verdict, decide, defer_delay
from webhooks.settle import Settleable, Settler

log = logging.getLogger(__name__)

BURST_POLL_S = 0.2
HEARTBEAT_S = 1.0
# Liveness fails when the event loop has not ticked for this long (a blocked loop).
STALL_S = 30.0


class Dispatcher:
    def __init__(self, settings: Settings, config: DeliveryConfig, deliverer: Deliverer,
                 metrics: DispatcherMetrics, *, burst: bool = False) -> None:
        self._settings = settings
        self._metrics = metrics
        self._config = config
        self._deliverer = deliverer
        self._burst = burst
        # A healthy host's or tenant's events wait as long as it takes; a failing one's only
        # within bounds (admission.py).
        self._admission = Admission(settings, metrics)
        self._tasks: set[asyncio.Task[None]] = set()
        self._active: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._settler: Settler | None = None
        self._connection: AbstractRobustConnection | None = None
        self._consuming = False
        self._heartbeat = time.monotonic()

    def is_ready(self) -> bool:
        """Connected and consuming (readiness probe; called from the probe thread)."""
        connection = self._connection
        return (self._consuming and not self._stopping and connection is not None
                and not connection.is_closed)

    def is_alive(self) -> bool:
        """The event loop still turns (liveness probe; called from the probe thread)."""
        return time.monotonic() - self._heartbeat < STALL_S

    async def _beat(self) -> None:
        while True:
            self._heartbeat = time.monotonic()
            await asyncio.sleep(HEARTBEAT_S)

    async def run(self, stop: asyncio.Event) -> int:
        name = f"mtq-dispatcher@{socket.gethostname()}:{os.getpid()}"
        beat = asyncio.create_task(self._beat())  # alive while it waits for the broker too
        try:
            # Robust, and moved to another node of MTQ_AMQP_URL whenever its node is down.
            connection = self._connection = await wait_for_connection(self._settings, name, stop)
            if connection is None:  # stopped while waiting for the broker
                return 0
            try:
                await self._consume(connection, name, stop)
            finally:
                self._consuming = False
                await connection.close()
        finally:
            beat.cancel()
        log.info("dispatcher %s stopped", name)
        return 0

    async def _consume(self, connection: AbstractRobustConnection, name: str,
                       stop: asyncio.Event) -> None:
        channel, queue = await open_results_queue(connection, self._settings,
                                                  self._config.schedule)
        self._settler = Settler(channel, self._metrics)
        tag = await queue.consume(self._on_message)
        self._consuming = True
        log.info("dispatcher %s consuming %s (prefetch %d, concurrency %d, per host %d)",
                 name, RESULTS_QUEUE, self._settings.dispatcher_prefetch,
                 self._settings.webhook_concurrency, self._settings.webhook_per_host)
        if self._burst:
            await self._wait_until_idle(queue, stop)
        else:
            await stop.wait()
        self._stopping = True
        with contextlib.suppress(*aio_pika.exceptions.CONNECTION_EXCEPTIONS):
            await queue.cancel(tag)
        await self._drain()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # Return at once: aio-pika hands deliveries over one by one.
        if not result_batch.is_batch(message.headers):
            self._start(self._handle(message))
            return
        try:
            parts = result_batch.unpack(message.headers or {}, message.body)
        except result_batch.InvalidBatch as exc:
            log.error("unusable batch message %s: %s", message.message_id, exc)
            self._start(self._settle_parked_batch(message, str(exc)))
            return
        settlement = BatchSettlement(len(parts), lambda requeue: self._settle_batch(
            message, len(parts), requeue=requeue))
        for headers, body in parts:
            self._start(self._handle(EventPart(settlement, message, headers, body)))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle_batch(self, message: AbstractIncomingMessage, parts: int, *,
                            requeue: bool) -> None:
        assert self._settler is not None
        label = f"batch of {parts}"
        if requeue:
            await self._settler.nack(message, label)
        else:
            await self._settler.ack(message, label)

    async def _settle_parked_batch(self, message: AbstractIncomingMessage, error: str) -> None:
        assert self._settler is not None
        await self._settler.park(message, "?", "invalid_message", 0, None, error)

    async def _handle(self, message: Settleable) -> None:
        assert self._settler is not None
        self._metrics.in_flight.inc()
        try:
            try:
                event = parse_result(message.body, message.headers)
            except InvalidResult as exc:
                job_id = header_text(message.headers or {}, JOB_ID_HEADER) or "?"
                log.error("job %s: unusable result message %s: %s", job_id,
                          message.message_id, exc)
                await self._settler.park(message, job_id, "invalid_message", 0, None, str(exc))
                return
            # No webhook was asked for: progress for the gateway's queue only, or a job answered
            # through the gateway's status API only (its status-only callback).
            if not event.deliver or event.callback_url == STATUS_ONLY_CALLBACK:
                self._metrics.skipped.inc()
                await self._settler.ack(message, event.job_id)
                return
            try:
                await self._deliver(message, event)
            except Busy as busy:
                await self._settler.defer(message, event.job_id,
                                          defer_delay(self._config.schedule, busy.wait_s),
                                          str(busy))
            except Exception as exc:
                # The error boundary for one message: a bug must not kill the consumer.
                if isinstance(message, EventPart):
                    # Down the ladder on its own, spending an attempt, so one poison event
                    # does not requeue (and repeat) every event of its batch.
                    log.exception("job %s: delivery of %s crashed; moving it to the retry "
                                  "ladder", event.job_id, event.webhook_id)
                    decision = decide(Verdict.LADDER, event.attempt + 1, self._config.schedule)
                    await self._settler.settle(message, event, decision, None,
                                               f"the dispatcher failed: {exc!r}")
                    return
                # The requeue counts against x-delivery-limit, which parks a poison message.
                log.exception("job %s: delivery of %s crashed; requeueing", event.job_id,
                              event.webhook_id)
                await self._settler.nack(message, event.job_id)
        finally:
            self._metrics.in_flight.dec()

    async def _deliver(self, message: Settleable, event: ResultMessage) -> None:
        assert self._settler is not None
        async with self._admission.hold(event) as ticket:
            if self._stopping:
                return  # never started: left unacked, redelivered after we disconnect
            task = asyncio.current_task()
            assert task is not None
            self._active.add(task)
            try:
                outcome = await self._deliverer.deliver(event)
                for feedback in outcome.feedback:
                    self._admission.record(ticket, feedback)
                decision = outcome.decision(event.attempt + 1, self._config.schedule)
                await self._settler.settle(message, event, decision, outcome.status,
                                           outcome.error)
            finally:
                self._active.discard(task)

    async def _wait_until_idle(self, queue: AbstractQueue, stop: asyncio.Event) -> None:
        """Burst mode: return once the queue is empty and nothing is held, twice in a row."""
        quiet = 0
        while quiet < 2:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), BURST_POLL_S)
                return
            try:
                declared = await queue.declare()
            except aio_pika.exceptions.CONNECTION_EXCEPTIONS as exc:
                log.warning("dispatcher: cannot count %s (%r); still waiting", RESULTS_QUEUE, exc)
                quiet = 0
                continue
            idle = declared.message_count == 0 and not self._tasks
            quiet = quiet + 1 if idle else 0
        log.info("dispatcher: %s is empty and nothing is in flight; burst done", RESULTS_QUEUE)

    async def _drain(self) -> None:
        waiting = self._tasks - self._active
        for task in waiting:
            task.cancel()  # nothing sent yet; the message is redelivered after we disconnect
        if self._active:
            log.info("dispatcher: draining %d in-flight deliveries (up to %.0fs)",
                     len(self._active), self._settings.drain_timeout_s)
            _, pending = await asyncio.wait(set(self._active),
                                            timeout=self._settings.drain_timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("dispatcher: %d deliveries still running at the drain deadline; "
                            "their events will be redelivered", len(pending))
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def run_dispatcher(
    settings: Settings,
    *,
    burst: bool = False,
    stop: asyncio.Event | None = None,
    resolver: Resolver = system_resolver,
    handle_signals: bool = True,
    metrics: DispatcherMetrics | None = None,
) -> int:
    """Validate settings, then run until ``stop`` is set, SIGTERM/SIGINT, or (burst) idle.

    ``/metrics``, ``/healthz`` and ``/readyz`` are served on ``MTQ_METRICS_PORT`` (default
    9001, beside a worker's 9000; 0 turns it off).
    """
    config = DeliveryConfig.from_settings(settings)  # ConfigError before any connection
    stop = stop or asyncio.Event()
    executor = ThreadPoolExecutor(settings.webhook_concurrency,
                                  thread_name_prefix="mtq-webhook-dns")
    metrics = metrics if metrics is not None else DispatcherMetrics()
    deliverer = Deliverer(config, executor, resolver=resolver, metrics=metrics)
    dispatcher = Dispatcher(settings, config, deliverer, metrics, burst=burst)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    server = None
    try:
        server = serve_probes(settings, metrics, alive=dispatcher.is_alive,
                              ready=dispatcher.is_ready)
        for signum in signals:
            loop.add_signal_handler(signum, stop.set)
        return await dispatcher.run(stop)
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        if server is not None:
            server.stop()
        executor.shutdown(wait=False, cancel_futures=True)
        await deliverer.close()
