"""The worker process: the composition root. Wiring, run, signals; no decisions.

Threads: the event loop owns the AMQP connection (consuming, publishing, settling); one
inference thread runs the engine; a small pool tokenizes and detokenizes so neither of the
other two waits on it. Results cross from the inference thread to the loop through
``call_soon_threadsafe`` only.

Every decision about a job is made in ``lifecycle/`` and carried out by its driver
(``lifecycle/driver.py``): this module builds the pieces, hands the broker link's messages
and the inference thread's results to the driver, and runs the start and the stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import CollectorRegistry

from mtq.core.contract import DecodeOptions
from mtq.core.health import WORKER_METRICS_PORT, HealthServer, metrics_port
from mtq.core.intake_rule import WindowRule
from mtq.core.settings import Settings
from worker.batching.fairness import Lane
from worker.batching.intake_window import IntakeWindow
from worker.batching.queue import BatchQueue
from worker.batching.scheduler import Scheduler
from worker.broker.link import BrokerLink
from worker.broker.message import JobMessage
from worker.cache import SegmentReuse
from worker.compute.inference import InferenceThread, SegmentResult
from worker.engines import Engine
from worker.engines.metrics import register_engine_metrics
from worker.engines.model_set import ModelSet
from worker.lifecycle.drain import stop_when_idle
from worker.lifecycle.driver import Lifecycle
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.shadowing import retranslate
from worker.metrics import WorkerMetrics
from worker.registry.loader import RegistryLoader
from worker.registry.rollover import Rollover
from worker.registry.shadow import Shadow
from worker.tasks import TaskSet

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self, settings: Settings, engine: Engine | ModelSet,
        registry: CollectorRegistry | None = None, loader: RegistryLoader | None = None,
    ) -> None:
        # Every model of the route table (or the one engine given) behind one Engine; the
        # worker consumes the routes its table serves.
        self.engine = self.models = ModelSet.of(engine, settings.routes)
        self.settings = settings = settings.replace(routes=self.models.routes)
        self.registry = registry or CollectorRegistry()
        self.metrics = WorkerMetrics(self.registry)
        self.models.attach_metrics(self.registry)
        register_engine_metrics(self.registry, self.models.engines.values())
        self.queue = BatchQueue(Scheduler.from_settings(settings))
        self.metrics.token_budget.set(settings.batch_tokens)
        self.reuse = SegmentReuse.from_settings(settings, self.metrics.cache)
        self._control = TaskSet("worker")  # the worker's own machinery: cancelled at exit
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mtq-tokenize")
        self._loop: asyncio.AbstractEventLoop | None = None
        self.window = (
            IntakeWindow(WindowRule.from_settings(settings), initial=settings.prefetch)
            if settings.intake_segments else None
        )
        self.metrics.intake_window.set(settings.prefetch)
        self.link = BrokerLink(settings, self._on_message, self._on_link_lost,
                               on_results_message=self.metrics.result_events_per_message.observe,
                               on_redelivered=self.metrics.jobs_redelivered_total.inc,
                               on_control=self._on_control)
        self.lifecycle = Lifecycle(
            settings, self.models, self.queue, self.link, metrics=self.metrics,
            pool=self._pool, reuse=self.reuse, window=self.window, control=self._control.spawn,
        )
        self.table = self.lifecycle.table
        self._inference = InferenceThread(self.models, self.queue, self._from_inference_thread,
                                          self.metrics)
        # Aliases of the registry followed (registry/rollover.py), when loaded through one.
        self.rollover = Rollover(settings, self.models, loader, self._models_in_use,
                                 self.registry) if loader is not None else None
        # MTQ_SHADOW: completed jobs translated again by a challenger when idle, then dropped.
        self.shadow = self._shadow() if self.models.shadow is not None else None
        self._stop = asyncio.Event()
        self._abandon = asyncio.Event()
        self._signals = 0

    @property
    def jobs(self) -> dict[str, InFlightJob]:
        return self.table.jobs

    # -- lifecycle ---------------------------------------------------------------------------

    def is_ready(self) -> bool:
        """Connected, not draining, the model thread alive (intake may pause for a solo job)."""
        return self.link.connected and not self.table.draining and self._inference.is_alive()

    def is_alive(self) -> bool:
        return self._loop is None or self._inference.is_alive()

    async def run(self, *, burst: bool = False, health: bool = True) -> int:
        """Consume until SIGTERM (or, with ``burst``, until the queues are empty)."""
        self._loop = asyncio.get_running_loop()
        self.lifecycle.solo.active = True
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
            await self._loop.run_in_executor(self._pool, self._warmup)
            self._inference.start()
            if self.shadow is not None:
                self.shadow.start()
            if self._stop.is_set():
                return 0
            if not await self.link.open(self._stop):  # stopped while waiting for the broker
                return 0
            self._control.spawn(self.link.run())
            self._control.spawn(self.lifecycle.hand_back_stale(self._stop))
            self._control.spawn(self.lifecycle.progress.run(self._stop))
            if burst:
                self._control.spawn(stop_when_idle(self.table, self.link, self._stop))
            if self.rollover is not None:
                self._control.spawn(self.rollover.run(self._stop))
            await self._stop.wait()
            await self.lifecycle.drain(self.settings.drain_timeout_s, self._abandon)
            return 0
        finally:
            self.queue.close()
            if self.shadow is not None:
                self.shadow.close()
            await self.link.close()
            self._control.cancel_all()
            self._pool.shutdown(wait=False, cancel_futures=True)
            await self.reuse.aclose()
            await self.lifecycle.cancels.aclose()
            if self.lifecycle.glossaries.cache is not None:
                await self.lifecycle.glossaries.cache.aclose()
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

    # -- wiring ------------------------------------------------------------------------------

    def _shadow(self) -> Shadow:
        share = self.models.shadow
        assert share is not None
        shadow = Shadow(
            share, lambda: self.models.current(share.reference)[1],
            lambda: not self._inference.busy and self.queue.waiting() == 0,
            retranslate, self.registry,
        )
        self.lifecycle.completed_observers.append(shadow.offer)
        return shadow

    def _models_in_use(self) -> set[str]:
        """The engine keys the jobs in flight were admitted on (one version each)."""
        return {getattr(entry.job.options, "model", "") for entry in self.jobs.values()}

    async def _on_message(self, message: JobMessage, route: str, lane: Lane) -> None:
        await self.lifecycle.receive(message, route, lane)

    async def _on_control(self, body: bytes, pending: bool) -> None:
        await self.lifecycle.on_control(body, pending=pending)

    def _on_link_lost(self) -> None:
        self.lifecycle.on_link_lost()

    def _from_inference_thread(self, results: list[SegmentResult]) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.lifecycle.on_results, results)
