"""Shadow: a share of completed jobs translated again by a challenger, the results dropped,
agreement exported (``MTQ_SHADOW="models:/NAME@challenger:0.1"``).

After a job on a ``models:/NAME…`` model is answered (its event already on its way), the jobs
whose ``job_id`` hashes below the share are offered here. One thread translates them with the
challenger, one job at a time and only while the client queue has nothing waiting and the
inference thread is idle, so shadow work yields to client work (it never holds a client batch
back; a client batch that arrives during a shadow job shares the device for that one job). A
bounded backlog drops what it cannot keep up with (``mtq_shadow_dropped_total``): under load
the shadow samples less rather than slowing anyone. Nothing of it reaches a client.

Exported per job: chrF between the champion's and the challenger's translations (sacrebleu,
the champion's as reference), the length ratio (challenger characters / champion
characters). The challenger translates the job's sources as sent (markup and terminology
options are not applied to it), so agreement on markup-heavy jobs reads low.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from mtq.core.contract import DecodeOptions
from mtq.core.errors import ConfigError
from mtq.core.events import CompletedEvent
from mtq.core.model_routes import Canary
from worker.engines.base import Engine

log = logging.getLogger(__name__)
BACKLOG = 64  # jobs waiting for the challenger; beyond this they are dropped


@dataclass(frozen=True)
class Agreement:
    chrf: float
    length_ratio: float


def agreement(champion: Sequence[str], challenger: Sequence[str]) -> Agreement:
    """How close the challenger's translations are to the champion's (pure)."""
    from sacrebleu.metrics.chrf import CHRF

    chrf = CHRF().corpus_score(list(challenger), [list(champion)]).score
    ratio = sum(map(len, challenger)) / max(sum(map(len, champion)), 1)
    return Agreement(float(chrf), ratio)


class ShadowMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.jobs = Counter("mtq_shadow_jobs", "Jobs translated again by the shadow "
                            "challenger", registry=registry)
        self.segments = Counter("mtq_shadow_segments", "Segments translated by the shadow "
                                "challenger", registry=registry)
        self.dropped = Counter("mtq_shadow_dropped", "Jobs the shadow skipped: its backlog "
                               "was full", registry=registry)
        self.chrf = Histogram("mtq_shadow_chrf", "chrF of the challenger's translations "
                              "against the champion's, per job", registry=registry,
                              buckets=(10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 100))
        self.length_ratio = Histogram("mtq_shadow_length_ratio", "Challenger / champion "
                                      "characters, per job", registry=registry,
                                      buckets=(0.5, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 2.0))


class Shadow(threading.Thread):
    """The shadow's one thread and its bounded backlog."""

    def __init__(self, share: Canary, engine: Callable[[], Engine], client_idle:
                 Callable[[], bool], options: DecodeOptions, registry: CollectorRegistry) -> None:
        super().__init__(name="mtq-shadow", daemon=True)
        try:
            import sacrebleu  # noqa: F401 (checked at start, not at the first shadowed job)
        except ImportError as exc:
            raise ConfigError(f"MTQ_SHADOW needs sacrebleu ({exc}); install it with "
                              "pip install 'mtq[registry]'") from exc
        self.share = share
        self._engine = engine  # the challenger serving now (it may roll over)
        self._client_idle = client_idle
        self._options = options
        self.metrics = ShadowMetrics(registry)
        self._backlog: collections.deque[CompletedEvent] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False

    def offer(self, event: CompletedEvent) -> None:
        """Called on the event loop for every completed job; never blocks."""
        registry = event.model.registry
        if registry is None or registry.name != self.share.name or registry.role is not None \
                or not self.share.takes(event.job_id):
            return
        with self._cond:
            if len(self._backlog) >= BACKLOG:
                self.metrics.dropped.inc()
                return
            self._backlog.append(event)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._backlog and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                event = self._backlog.popleft()
            while not self._client_idle():  # client work first
                with self._cond:
                    if self._closed:
                        return
                    self._cond.wait(0.05)
            try:
                self._compare(event)
            except Exception:  # a shadow failure must never reach the worker
                log.exception("shadow: job %s could not be compared", event.job_id)

    def _compare(self, event: CompletedEvent) -> None:
        engine = self._engine()
        sources = [s for s, t in zip(event.job.segments, event.translations, strict=True)
                   if s.strip() and t]
        champion = [t for s, t in zip(event.job.segments, event.translations, strict=True)
                    if s.strip() and t]
        if not sources:
            return
        started = time.monotonic()
        challenger = engine.decode(engine.generate(engine.encode(sources), self._options))
        found = agreement(champion, challenger)
        self.metrics.jobs.inc()
        self.metrics.segments.inc(len(sources))
        self.metrics.chrf.observe(found.chrf)
        self.metrics.length_ratio.observe(found.length_ratio)
        log.debug("shadow: job %s chrF %.1f, length ratio %.2f (%.2f s)", event.job_id,
                  found.chrf, found.length_ratio, time.monotonic() - started)
