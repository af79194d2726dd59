"""The worker process: wires consumer, scheduler, inference thread and result publisher.

Threads: the event loop owns the AMQP connection (consuming, publishing, settling); one
inference thread runs the engine; a small pool tokenizes and detokenizes so neither of the
other two waits on it. Results cross from the inference thread to the loop through
``call_soon_threadsafe`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from prometheus_client import CollectorRegistry
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from mtq.contract import (
    DecodeOptions,
    ErrorCode,
    InvalidJob,
    JobLimits,
    NotAJob,
    completed_event,
    failed_event,
    parse_job,
)
from mtq.health import HealthServer
from mtq.settings import Settings
from mtq.topology import declare_job_topology, declare_results_topology, job_queue
from worker.engine import Engine
from worker.faults import FaultHook
from worker.inference import InferenceThread, SegmentResult
from worker.jobs import InFlightJob
from worker.metrics import WorkerMetrics
from worker.results import ResultPublisher
from worker.scheduler import BatchQueue, Scheduler
from worker.settle import Delivery

log = logging.getLogger(__name__)


def job_limits(settings: Settings) -> JobLimits:
    return JobLimits(
        max_job_segments=settings.max_job_segments,
        max_segment_chars=settings.max_segment_chars,
        max_metadata_bytes=settings.max_metadata_bytes,
        default_beam_size=settings.default_beam_size,
        max_beam_size=settings.max_beam_size,
        default_max_new_tokens=settings.default_max_new_tokens,
        max_new_tokens_limit=settings.max_new_tokens_limit,
    )


class Worker:
    def __init__(
        self, settings: Settings, engine: Engine, registry: CollectorRegistry | None = None
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.registry = registry or CollectorRegistry()
        self.metrics = WorkerMetrics(self.registry)
        self.limits = job_limits(settings)
        self.queue = BatchQueue(
            Scheduler(
                token_budget=settings.batch_tokens,
                max_batch_segments=settings.max_batch_segments,
                max_wait_s=settings.batch_max_wait_ms / 1000,
            )
        )
        self.jobs: dict[str, InFlightJob] = {}
        self._receiving = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cpu_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mtq-tokenize")
        self._inference = InferenceThread(
            engine, self.queue, self._from_inference_thread, self.metrics,
            FaultHook(settings.fault_crash_marker),
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: AbstractRobustConnection | None = None
        self._publisher: ResultPublisher | None = None
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._stop = asyncio.Event()
        self._abandon = asyncio.Event()
        self._draining = False
        self._signals = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def is_ready(self) -> bool:
        connection = self._connection
        return (
            connection is not None
            and connection.connected.is_set()
            and bool(self._consumers)
            and not self._draining
            and self._inference.is_alive()
        )

    def is_alive(self) -> bool:
        return self._loop is None or self._inference.is_alive()

    async def run(self, *, burst: bool = False, health: bool = True) -> int:
        """Consume until SIGTERM (or, with ``burst``, until the queues are empty)."""
        self._loop = asyncio.get_running_loop()
        server = None
        if health and self.settings.metrics_port:
            server = HealthServer(
                self.settings.metrics_port, self.registry,
                liveness={"inference_thread": self.is_alive},
                readiness={"consuming": self.is_ready},
            )
            server.start()
        self._install_signal_handlers()
        log.info("warming up %s", self.engine.info.name)
        await self._loop.run_in_executor(self._cpu_pool, self._warmup)
        self._inference.start()
        try:
            await self._connect()
            if burst:
                self._spawn(self._stop_when_idle())
            await self._stop.wait()
            return await self._drain()
        finally:
            self.queue.close()
            if self._connection is not None:
                await self._connection.close()
            self._cpu_pool.shutdown(wait=False, cancel_futures=True)
            if server is not None:
                server.stop()

    def request_stop(self) -> None:
        """First call drains gracefully; a second one stops waiting for in-flight work."""
        self._signals += 1
        if self._signals == 1:
            log.info("stop requested: draining")
            self._stop.set()
        else:
            log.warning("second stop request: exiting without waiting for in-flight jobs")
            self._abandon.set()

    def _install_signal_handlers(self) -> None:
        assert self._loop is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.add_signal_handler(sig, self.request_stop)

    def _warmup(self) -> None:
        self.engine.warmup(
            DecodeOptions(self.settings.default_beam_size, self.settings.default_max_new_tokens)
        )

    async def _connect(self) -> None:
        settings = self.settings
        self._connection = await aio_pika.connect_robust(
            settings.amqp_url, client_properties={"connection_name": "mtq-worker"}
        )
        publish_channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        await declare_results_topology(
            publish_channel, settings.webhook_retry_schedule_s, settings.delivery_limit
        )
        topology = await declare_job_topology(
            publish_channel, settings.routes, settings.delivery_limit
        )
        self._publisher = ResultPublisher(publish_channel)
        await self._publisher.open()
        consume_channel = await self._connection.channel()
        # Per-consumer prefetch: quorum queues refuse global QoS.
        await consume_channel.set_qos(prefetch_count=settings.prefetch)
        for route in topology.queues:
            queue = await consume_channel.get_queue(job_queue(route))
            tag = await queue.consume(self._on_message_for(route))
            self._consumers.append((queue, tag))
        log.info(
            "consuming %s with prefetch %d", ", ".join(job_queue(r) for r in settings.routes),
            settings.prefetch,
        )

    async def _stop_when_idle(self) -> None:
        """Burst mode: stop once every route queue is empty and nothing is in flight."""
        idle_checks = 0
        while not self._stop.is_set():
            await asyncio.sleep(0.25)
            busy = bool(self.jobs) or self._receiving > 0
            if not busy:
                counts = [
                    (await queue.declare(timeout=10)).message_count or 0
                    for queue, _ in self._consumers
                ]
                busy = any(counts)
            idle_checks = 0 if busy else idle_checks + 1
            if idle_checks >= 3:
                log.info("burst: queues empty, nothing in flight; stopping")
                self._stop.set()

    async def _drain(self) -> int:
        """Stop consuming, requeue jobs not started, finish the rest within the drain timeout."""
        self._draining = True
        for queue, tag in self._consumers:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
        for key, entry in list(self.jobs.items()):
            if not entry.started and entry.remaining > 0:
                withdrawn = self.queue.withdraw_unstarted(key, entry.remaining)
                if withdrawn:
                    self.jobs.pop(key, None)
                    await entry.delivery.requeue(entry.job.job_id)
        self.queue.drain()
        deadline = time.monotonic() + self.settings.drain_timeout_s
        while (self.jobs or self._tasks or self._receiving) and time.monotonic() < deadline:
            if self._abandon.is_set():
                break
            await asyncio.sleep(0.05)
        self.metrics.inflight_jobs.set(len(self.jobs))
        if self.jobs:
            log.warning(
                "drain ended with %d jobs unfinished; the broker redelivers them", len(self.jobs)
            )
        else:
            log.info("drained cleanly")
        return 0

    # -- receiving ---------------------------------------------------------------------------

    def _on_message_for(self, route: str) -> Any:
        async def on_message(message: AbstractIncomingMessage) -> None:
            await self._receive(Delivery(message, job_queue(route)), route)

        return on_message

    async def _receive(self, delivery: Delivery, route: str) -> None:
        """The error boundary of one message: whatever happens, it gets settled."""
        self._receiving += 1
        label = delivery.message.message_id or "?"
        try:
            if self._draining:
                await delivery.requeue(label)
                return
            await self._admit(delivery, route)
        except Exception:
            log.exception("job %s: unexpected error; requeueing", label)
            await delivery.requeue(label)
        finally:
            self._receiving -= 1

    async def _admit(self, delivery: Delivery, route: str) -> None:
        assert self._publisher is not None and self._loop is not None
        message = delivery.message
        try:
            job = parse_job(message.body, self.limits, routes=(route,))
        except NotAJob as exc:
            log.warning("message %s on %s is not a job: %s", message.message_id, route, exc.reason)
            await self._publisher.dead_letter(
                message.body, dict(message.headers or {}), route, exc.reason,
                message_id=message.message_id,
            )
            self.metrics.dead_lettered_total.inc()
            await delivery.ack(message.message_id or "?")
            return
        except InvalidJob as exc:
            await self._reject(delivery, exc)
            return
        texts = list(job.segments)
        tokens = await self._loop.run_in_executor(self._cpu_pool, self.engine.encode, texts)
        too_long = next(
            (i for i, ids in enumerate(tokens) if len(ids) > self.engine.max_source_tokens), None
        )
        if too_long is not None:
            await self._reject(delivery, InvalidJob(
                ErrorCode.JOB_TOO_LARGE,
                f"segments[{too_long}] is {len(tokens[too_long])} tokens; the model takes at "
                f"most {self.engine.max_source_tokens}",
                job_id=job.job_id, callback_url=job.callback_url, metadata=job.metadata,
            ))
            return
        entry = InFlightJob(job=job, delivery=delivery, published_at=_timestamp(message))
        work = []
        for index, (text, ids) in enumerate(zip(texts, tokens, strict=True)):
            if text.strip():
                work.append((index, ids, text))
            else:
                entry.outputs[index] = []
                entry.translated[index] = ""
        entry.remaining = len(work)
        self.jobs[entry.key] = entry
        self.metrics.inflight_jobs.set(len(self.jobs))
        if work:
            self.queue.add(entry.key, job.options, work)
        else:
            self._spawn(self._complete(entry))

    async def _reject(self, delivery: Delivery, exc: InvalidJob) -> None:
        """Answer an invalid job with ``job.failed`` and ack it."""
        assert self._publisher is not None
        log.info("job %s rejected: %s", exc.job_id, exc)
        event = failed_event(exc.job_id, exc.code, exc.message, exc.metadata)
        await self._publisher.publish_event(event, exc.callback_url)
        self.metrics.jobs_total.labels(outcome=exc.code.value).inc()
        await delivery.ack(exc.job_id)

    # -- results -----------------------------------------------------------------------------

    def _from_inference_thread(self, results: list[SegmentResult]) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._on_results, results)

    def _on_results(self, results: list[SegmentResult]) -> None:
        for result in results:
            entry = self.jobs.get(str(result.segment.job_key))
            if entry is None or entry.failed:
                continue  # the job already failed or was handed back
            if result.output is None:
                entry.failed = True
                self.queue.cancel(entry.key)
                self._spawn(self._fail(entry, ErrorCode.SEGMENT_FAILED, (
                    f"segments[{result.segment.index}] could not be translated: {result.error}"
                )))
                continue
            first = not entry.started
            done = entry.record(
                result.segment.index, result.output, result.started_at, result.finished_at
            )
            if first:
                self.metrics.queue_wait_seconds.observe(entry.stats().queue_ms / 1000)
            if done:
                self._spawn(self._complete(entry))

    async def _complete(self, entry: InFlightJob) -> None:
        assert self._publisher is not None and self._loop is not None
        job = entry.job
        try:
            translations = await self._loop.run_in_executor(
                self._cpu_pool, self._detokenize, entry
            )
            event = completed_event(job, translations, self.engine.info, entry.stats())
            await self._publish_then_ack(entry, event, "completed")
        finally:
            self._forget(entry)

    def _detokenize(self, entry: InFlightJob) -> list[str]:
        pending = [i for i, o in enumerate(entry.outputs) if i not in entry.translated]
        decoded = self.engine.decode([entry.outputs[i] or [] for i in pending])
        texts = dict(entry.translated)
        texts.update(zip(pending, decoded, strict=True))
        return [texts[i] for i in range(len(entry.outputs))]

    async def _fail(self, entry: InFlightJob, code: ErrorCode, message: str) -> None:
        try:
            event = failed_event(entry.job.job_id, code, message, entry.job.metadata)
            await self._publish_then_ack(entry, event, code.value)
        finally:
            self._forget(entry)

    async def _publish_then_ack(
        self, entry: InFlightJob, event: dict[str, Any], outcome: str
    ) -> None:
        assert self._publisher is not None
        job_id = entry.job.job_id
        try:
            hook_id = await self._publish_with_retry(event, entry.job.callback_url, job_id)
        except Exception as exc:
            log.error("job %s: result not confirmed (%s); requeueing the job", job_id, exc)
            await entry.delivery.requeue(job_id)
            return
        await entry.delivery.ack(job_id)
        self.metrics.jobs_total.labels(outcome=outcome).inc()
        self.metrics.job_seconds.observe(time.monotonic() - entry.received_mono)
        log.info("job %s: %s (webhook %s)", job_id, event["type"], hook_id)

    async def _publish_with_retry(
        self, event: dict[str, Any], callback_url: str, job_id: str
    ) -> str:
        """Publish until confirmed, backing off; the job stays unacked meanwhile.

        Retrying here rather than requeueing keeps a computed result through a broker blip
        (the robust channel reopens underneath) without spending the job's delivery limit.
        """
        assert self._publisher is not None
        retrying = AsyncRetrying(
            stop=stop_after_delay(self.settings.result_publish_timeout_s),
            wait=wait_exponential_jitter(initial=0.2, max=5.0),
            retry=retry_if_exception_type(Exception),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "job %s: result publish failed (%s); retrying", job_id,
                state.outcome.exception() if state.outcome else "?",
            ),
        )
        async for attempt in retrying:
            with attempt:
                return await self._publisher.publish_event(event, callback_url)
        raise AssertionError("unreachable")

    def _forget(self, entry: InFlightJob) -> None:
        self.jobs.pop(entry.key, None)
        self.metrics.inflight_jobs.set(len(self.jobs))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())


def _timestamp(message: AbstractIncomingMessage) -> float | None:
    stamp = message.timestamp
    return stamp.timestamp() if stamp is not None else None
