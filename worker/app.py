"""The worker process: wires consumer, scheduler, inference thread and result publisher.

Threads: the event loop owns the AMQP connection (consuming, publishing, settling); one
inference thread runs the engine; a small pool tokenizes and detokenizes so neither of the
other two waits on it. Results cross from the inference thread to the loop through
``call_soon_threadsafe`` only.

Fault tolerance (docs/reliability.md): a job is acked only after its result is confirmed; the
broker link reconnects by itself (``worker/consumer.py``) and jobs whose delivery died with a
connection keep computing and adopt their redelivery; redelivered jobs run alone
(:class:`~worker.jobs.Quarantine`); SIGTERM drains within ``MTQ_DRAIN_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import CollectorRegistry

from mtq.contract import (
    DecodeOptions,
    ErrorCode,
    InvalidJob,
    NotAJob,
    completed_event,
    failed_event,
    parse_job,
)
from mtq.health import WORKER_METRICS_PORT, HealthServer, metrics_port
from mtq.settings import Settings
from mtq.topology import job_queue
from webhooks.ssrf import NetworkPolicy
from worker.admission import blocked_reason, job_limits, size_problem
from worker.consumer import BrokerLink
from worker.engines import Engine
from worker.faults import FaultHook
from worker.inference import InferenceThread, SegmentResult
from worker.jobs import InFlightJob, Quarantine
from worker.metrics import WorkerMetrics
from worker.outbox import Outbox
from worker.scheduler import BatchQueue, Scheduler
from worker.settle import Delivery

log = logging.getLogger(__name__)

DEAD_LETTER_WAIT_S = 10.0


Work = list[tuple[int, Sequence[int], str]]


class Worker:
    def __init__(
        self, settings: Settings, engine: Engine, registry: CollectorRegistry | None = None
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.registry = registry or CollectorRegistry()
        self.metrics = WorkerMetrics(self.registry)
        self.limits = job_limits(settings)
        self.policy = NetworkPolicy.from_settings(settings)
        self.queue = BatchQueue(
            Scheduler(
                token_budget=settings.batch_tokens,
                max_batch_segments=settings.max_batch_segments,
                max_wait_s=settings.batch_max_wait_ms / 1000,
                max_padding=settings.batch_max_padding,
            )
        )
        self.metrics.token_budget.set(settings.batch_tokens)
        self.jobs: dict[str, InFlightJob] = {}
        self.quarantine = Quarantine(settings.delivery_limit)
        self._solo: str | None = None  # key of the redelivered job running alone
        self._intake = "on"  # on | pausing | paused | resuming (intake paused for the solo run)
        self._orphans: dict[str, InFlightJob] = {}  # fingerprint -> job whose delivery died
        self._receiving = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._control: set[asyncio.Task[Any]] = set()
        self._cpu_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mtq-tokenize")
        self._inference = InferenceThread(
            engine, self.queue, self._from_inference_thread, self.metrics,
            FaultHook(settings.fault_crash_marker),
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self.link = BrokerLink(settings, self._on_message, self._on_link_lost)
        self.outbox = Outbox(self.link, settings.result_publish_timeout_s)
        self._stop = asyncio.Event()
        self._abandon = asyncio.Event()
        self._draining = False
        self._signals = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def is_ready(self) -> bool:
        """Connected, not draining, the model thread alive (intake may pause for a solo job)."""
        return self.link.connected and not self._draining and self._inference.is_alive()

    def is_alive(self) -> bool:
        return self._loop is None or self._inference.is_alive()

    async def run(self, *, burst: bool = False, health: bool = True) -> int:
        """Consume until SIGTERM (or, with ``burst``, until the queues are empty)."""
        self._loop = asyncio.get_running_loop()
        server = None
        port = metrics_port(self.settings, WORKER_METRICS_PORT)
        if health and port:
            server = HealthServer(
                port, self.registry,
                liveness={"inference_thread": self.is_alive},
                readiness={"consuming": self.is_ready},
            )
            server.start()
        self._install_signal_handlers()
        try:
            log.info("warming up %s", self.engine.info.name)
            await self._loop.run_in_executor(self._cpu_pool, self._warmup)
            self._inference.start()
            if self._stop.is_set():
                return 0
            await self.link.open()
            self._spawn_control(self.link.run())
            self._spawn_control(self._hand_back_stale())
            if burst:
                self._spawn_control(self._stop_when_idle())
            await self._stop.wait()
            return await self._drain()
        finally:
            self.queue.close()
            await self.link.close()
            for task in list(self._control):
                task.cancel()
            self._cpu_pool.shutdown(wait=False, cancel_futures=True)
            if server is not None:
                server.stop()

    def request_stop(self) -> None:
        """First call drains gracefully; a second one stops waiting for in-flight work."""
        self._signals += 1
        if self._signals == 1:
            log.info("stop requested: draining (up to %.0fs)", self.settings.drain_timeout_s)
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

    async def _stop_when_idle(self) -> None:
        """Burst mode: stop once every route queue is empty and nothing is in flight."""
        idle_checks = 0
        while not self._stop.is_set():
            await asyncio.sleep(0.25)
            busy = bool(self.jobs) or self._receiving > 0 or not self.link.connected
            if not busy:
                try:
                    busy = any(await self.link.queue_depths())
                except Exception:  # a lost link is "not idle yet"
                    busy = True
            idle_checks = 0 if busy else idle_checks + 1
            if idle_checks >= 3:
                log.info("burst: queues empty, nothing in flight; stopping")
                self._stop.set()

    async def _hand_back_stale(self) -> None:
        """Requeue jobs still waiting at half the consumer timeout, before the broker would
        close the channel under every job this worker holds (docs/reliability.md)."""
        limit = self.settings.consumer_timeout_s / 2
        while not self._stop.is_set():
            await asyncio.sleep(min(10.0, limit / 10))
            now = time.monotonic()
            for key, entry in list(self.jobs.items()):
                if self._draining or entry.started or entry.orphaned or entry.remaining == 0:
                    continue
                if now - entry.received_mono < limit or self._solo == key:
                    continue
                waiting = key in self.quarantine or self.queue.withdraw_unstarted(
                    key, entry.remaining
                )
                if waiting:
                    log.warning("job %s: not started after %.0fs; handing it back before the "
                                "consumer timeout", entry.job.job_id, now - entry.received_mono)
                    self._forget(entry)
                    await entry.delivery.requeue(entry.job.job_id)

    async def _drain(self) -> int:
        """Stop consuming, requeue jobs not started, finish the rest within the drain timeout.

        Whatever is still unacked at the deadline (or after a second SIGTERM) is left to the
        broker, which redelivers it once the connection closes: nothing is lost either way.
        """
        self._draining = True
        deadline = time.monotonic() + self.settings.drain_timeout_s
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.link.set_consuming(False), timeout=5)
        requeued = 0
        for entry in self.quarantine.take_all():
            self._forget(entry)
            requeued += await entry.delivery.requeue(entry.job.job_id)
        for key, entry in list(self.jobs.items()):
            unstarted = not entry.started and entry.remaining > 0
            if unstarted and self.queue.withdraw_unstarted(key, entry.remaining):
                self._forget(entry)
                if not entry.orphaned:
                    requeued += await entry.delivery.requeue(entry.job.job_id)
        self.queue.drain()
        log.info("draining: %d jobs requeued, %d in flight", requeued, len(self.jobs))
        while self.jobs or self._tasks or self._receiving:
            if self._abandon.is_set() or time.monotonic() >= deadline:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._abandon.wait(), 0.05)
        self.metrics.inflight_jobs.set(len(self.jobs))
        if self.jobs:
            log.warning(
                "drain ended with %d jobs unfinished; the broker redelivers them", len(self.jobs)
            )
        else:
            log.info("drained cleanly")
        return 0

    # -- receiving ---------------------------------------------------------------------------

    async def _on_message(self, message: AbstractIncomingMessage, route: str) -> None:
        await self._receive(Delivery(message, job_queue(route)), route)

    async def _receive(self, delivery: Delivery, route: str) -> None:
        """The error boundary of one message: whatever happens, it gets settled."""
        self._receiving += 1
        label = delivery.message.message_id or "?"
        try:
            if self._draining:
                await delivery.requeue(label)
                return
            await self._admit(delivery, route)
        except Exception:  # one message must never take the worker down
            log.exception("job %s: unexpected error; requeueing", label)
            await delivery.requeue(label)
        finally:
            self._receiving -= 1
            self._pump()

    async def _admit(self, delivery: Delivery, route: str) -> None:
        assert self._loop is not None
        message = delivery.message
        if delivery.redelivered and await self._known_redelivery(delivery):
            return
        try:
            job = parse_job(message.body, self.limits, routes=(route,))
        except NotAJob as exc:
            log.warning("message %s on %s is not a job: %s", message.message_id, route, exc.reason)
            await self._dead_letter(delivery, route, exc.reason)
            return
        except InvalidJob as exc:
            blocked = blocked_reason(exc.callback_url, self.policy)
            if blocked is not None:
                await self._dead_letter(delivery, route, blocked)
            else:
                await self._reject(delivery, exc)
            return
        blocked = blocked_reason(job.callback_url, self.policy)
        if blocked is not None:
            log.warning("job %s: callback refused up front: %s", job.job_id, blocked)
            await self._dead_letter(delivery, route, blocked)
            return
        texts = list(job.segments)
        tokens = await self._loop.run_in_executor(self._cpu_pool, self.engine.encode, texts)
        too_large = size_problem(
            tokens, self.engine.max_source_tokens, self.settings.max_job_tokens
        )
        if too_large is not None:
            await self._reject(delivery, InvalidJob(
                ErrorCode.JOB_TOO_LARGE, too_large,
                job_id=job.job_id, callback_url=job.callback_url, metadata=job.metadata,
            ))
            return
        entry = InFlightJob(job=job, delivery=delivery, published_at=_timestamp(message))
        work: Work = []
        for index, (text, ids) in enumerate(zip(texts, tokens, strict=True)):
            if text.strip():
                work.append((index, ids, text))
            else:
                entry.outputs[index] = []
                entry.translated[index] = ""
        entry.remaining = len(work)
        self.jobs[entry.key] = entry
        self.metrics.inflight_jobs.set(len(self.jobs))
        threshold = self.settings.solo_after_deliveries
        if threshold and delivery.delivery_count >= threshold:
            entry.held = work
            self.quarantine.add(entry)
            log.info("job %s: delivery %d; it will run alone", job.job_id,
                     delivery.delivery_count + 1)
            return
        self._start(entry, work)

    def _start(self, entry: InFlightJob, work: Work) -> None:
        if work:
            self.queue.add(entry.key, entry.job.options, work)
        else:
            self._spawn(self._complete(entry))

    async def _known_redelivery(self, delivery: Delivery) -> bool:
        """A redelivery of a job this worker is still computing or already published."""
        fingerprint = delivery.fingerprint
        orphan = self._orphans.pop(fingerprint, None)
        if orphan is not None and self.jobs.get(orphan.key) is orphan:
            orphan.delivery = delivery
            orphan.orphaned = False
            log.info("job %s: redelivered after a connection loss; the computation in "
                     "progress adopts it", orphan.job.job_id)
            return True
        hook_id = self.outbox.take(fingerprint)
        if hook_id is not None:
            log.info("job %s: result %s was confirmed before the connection loss; acking "
                     "the redelivery", delivery.message.message_id or "?", hook_id)
            await delivery.ack(delivery.message.message_id or hook_id)
            return True
        return False

    async def _dead_letter(self, delivery: Delivery, route: str, reason: str) -> None:
        """Move a message aside with its reason (publish confirmed, then ack)."""
        message = delivery.message
        publisher = await self.link.publisher(DEAD_LETTER_WAIT_S)
        await publisher.dead_letter(
            message.body, dict(message.headers or {}), route, reason,
            message_id=message.message_id,
        )
        self.metrics.dead_lettered_total.inc()
        await delivery.ack(message.message_id or "?")

    async def _reject(self, delivery: Delivery, exc: InvalidJob) -> None:
        """Answer an invalid job with ``job.failed`` and ack it."""
        log.info("job %s rejected: %s", exc.job_id, exc)
        event = failed_event(exc.job_id, exc.code, exc.message, exc.metadata)
        await self.outbox.publish(event, exc.callback_url, exc.job_id)
        self.metrics.jobs_total.labels(outcome=exc.code.value).inc()
        await delivery.ack(exc.job_id)

    # -- the quarantine: redelivered jobs run alone ---------------------------------------------

    def _pump(self) -> None:
        """Run quarantined jobs one at a time with nothing else unacked; then resume intake."""
        if self._loop is None or self._draining or self._solo is not None:
            return
        if not self.quarantine:
            if self._intake == "paused":
                self._intake = "resuming"
                self._spawn_control(self._set_intake(True))
            return
        if self._intake == "on":
            self._intake = "pausing"
            self._spawn_control(self._set_intake(False))
            return
        if self._intake != "paused" or self._receiving:
            return
        if any(key not in self.quarantine for key in self.jobs):
            return  # jobs delivered before the pause finish first
        entry = self.quarantine.next()
        assert entry is not None
        self._solo = entry.key
        log.info("job %s: running alone (delivery %d, %d more waiting)", entry.job.job_id,
                 entry.delivery.delivery_count + 1, len(self.quarantine))
        work, entry.held = entry.held, []
        self._start(entry, work)

    async def _set_intake(self, on: bool) -> None:
        try:
            await self.link.set_consuming(on and not self._draining)
        finally:
            self._intake = "on" if on else "paused"
        self._pump()

    # -- connection loss -----------------------------------------------------------------------

    def _on_link_lost(self) -> None:
        """Every unsettled delivery died with the channel; the broker redelivers them all.

        Jobs not started are dropped (their redelivery brings them back); started ones keep
        computing as orphans, and a redelivery of the same body adopts them, so results
        computed before the drop are not thrown away.
        """
        for entry in self.quarantine.take_all():
            self._forget(entry, pump=False)
        for key, entry in list(self.jobs.items()):
            if entry.delivery.settled:
                continue
            unstarted = not entry.started and entry.remaining > 0
            if unstarted and self.queue.withdraw_unstarted(key, entry.remaining):
                self._forget(entry, pump=False)
                continue
            entry.orphaned = True
            self._orphans[entry.fingerprint] = entry
        self._pump()

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
        assert self._loop is not None
        job = entry.job
        try:
            try:
                translations = await self._loop.run_in_executor(
                    self._cpu_pool, self._detokenize, entry
                )
                event = completed_event(job, translations, self.engine.info, entry.stats())
            except Exception as exc:  # the job must still be answered, never left hanging
                log.exception("job %s: could not assemble the result", job.job_id)
                event = failed_event(
                    job.job_id, ErrorCode.INTERNAL_ERROR,
                    f"the translations could not be assembled: {type(exc).__name__}",
                    job.metadata,
                )
                await self._publish_then_ack(entry, event, ErrorCode.INTERNAL_ERROR.value)
                return
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
        job_id = entry.job.job_id
        try:
            hook_id = await self.outbox.publish(event, entry.job.callback_url, job_id)
        except Exception as exc:  # unconfirmed: hand the job back, never ack
            log.error("job %s: result not confirmed (%s); requeueing the job", job_id, exc)
            await entry.delivery.requeue(job_id)
            return
        delivery = entry.delivery
        acked = await delivery.ack(job_id)
        if entry.delivery is not delivery:  # a redelivery was adopted while that ack failed
            delivery = entry.delivery
            acked = await delivery.ack(job_id)
        if not acked:
            self.outbox.remember(delivery.fingerprint, hook_id)
        self.metrics.jobs_total.labels(outcome=outcome).inc()
        self.metrics.job_seconds.observe(time.monotonic() - entry.received_mono)
        # bench/soak.py reads "x-delivery-count N" from this line (max redeliveries).
        log.info("job %s: %s (webhook %s, x-delivery-count %d)", job_id, event["type"],
                 hook_id, delivery.delivery_count)

    def _forget(self, entry: InFlightJob, *, pump: bool = True) -> None:
        if self.jobs.get(entry.key) is entry:
            del self.jobs[entry.key]
        self.quarantine.discard(entry.key)
        if self._orphans.get(entry.fingerprint) is entry:
            del self._orphans[entry.fingerprint]
        if self._solo == entry.key:
            self._solo = None
        self.metrics.inflight_jobs.set(len(self.jobs))
        if pump:
            self._pump()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """A task that settles a job: the drain waits for these."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _spawn_control(self, coro: Coroutine[Any, Any, Any]) -> None:
        """A task of the worker's own machinery (link, intake, burst): cancelled at exit."""
        task = asyncio.ensure_future(coro)
        self._control.add(task)
        task.add_done_callback(self._control_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def _control_done(self, task: asyncio.Task[Any]) -> None:
        self._control.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("worker task failed", exc_info=task.exception())


def _timestamp(message: AbstractIncomingMessage) -> float | None:
    stamp = message.timestamp
    return stamp.timestamp() if stamp is not None else None
