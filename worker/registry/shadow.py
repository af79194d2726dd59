"""Shadow: a share of completed jobs translated again by a challenger, the results dropped,
agreement exported (``MTQ_SHADOW="models:/NAME@challenger:0.1"``).

After a job on a ``models:/NAME…`` model is answered (its event already on its way), the jobs
whose ``job_id`` hashes below the share are offered here. One thread translates them with the
challenger, one job at a time and only while the client queue has nothing waiting and the
inference thread is idle, so shadow work yields to client work (it never holds a client batch
back; a client batch that arrives during a shadow job shares the device for that one job). A
bounded backlog drops what it cannot keep up with (``mtq_shadow_dropped_total``): under load
the shadow samples less rather than slowing anyone. Nothing of it reaches a client.

The challenger's job goes through the same steps as a client's (markup masked and restored,
terms, the output guards: the worker wires them in as a :data:`Retranslate`), so its
warnings can be set against the champion's. Exported per job: chrF between the champion's and
the challenger's translations (sacrebleu, the champion's as reference) and the length ratio
(challenger characters / champion characters); per segment: the confidence difference
(challenger minus champion), the warnings each side raised by code, and whether their codes
differ. ``length_ratio`` warnings are left out of the comparison: the champion's come from
its own length calibration, which the challenger does not have.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from mtq.core.contract import Job
from mtq.core.errors import ConfigError
from mtq.core.events import CompletedEvent
from mtq.core.markup import SegmentWarning
from mtq.core.model_routes import Canary
from mtq.core.vouch.guards import LENGTH_RATIO
from worker.engines.base import Engine

log = logging.getLogger(__name__)
BACKLOG = 64  # jobs waiting for the challenger; beyond this they are dropped


CHAMPION, CHALLENGER = "champion", "challenger"  # the ``side`` label of the warning counter


@dataclass(frozen=True)
class Retranslation:
    """A whole job as the challenger answers it: one entry per segment, as in the event."""

    translations: tuple[str, ...]
    confidence: tuple[float, ...]
    warnings: tuple[SegmentWarning, ...]


# Translates a job on an engine the way the worker answers clients (worker/lifecycle).
Retranslate = Callable[[Engine, Job], Retranslation]


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


def warning_codes(warnings: Iterable[SegmentWarning]) -> dict[int, frozenset[str]]:
    """The compared warning codes of each segment that has any (pure)."""
    codes: dict[int, set[str]] = {}
    for warning in warnings:
        if warning.code != LENGTH_RATIO:
            codes.setdefault(warning.segment, set()).add(warning.code)
    return {segment: frozenset(found) for segment, found in codes.items()}


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
        self.confidence_delta = Histogram(
            "mtq_shadow_confidence_delta", "Challenger minus champion confidence, per segment",
            registry=registry,
            buckets=(-0.5, -0.2, -0.1, -0.05, -0.02, 0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0))
        self.warnings = Counter("mtq_shadow_warnings", "Shadowed segments with a warning, by "
                                "the side that raised it and its code", ["side", "code"],
                                registry=registry)
        self.warning_disagreements = Counter(
            "mtq_shadow_warning_disagreements", "Shadowed segments whose warning codes differ "
            "between champion and challenger", registry=registry)


class Shadow(threading.Thread):
    """The shadow's one thread and its bounded backlog."""

    def __init__(self, share: Canary, engine: Callable[[], Engine], client_idle:
                 Callable[[], bool], retranslate: Retranslate,
                 registry: CollectorRegistry) -> None:
        super().__init__(name="mtq-shadow", daemon=True)
        try:
            import sacrebleu  # noqa: F401 (checked at start, not at the first shadowed job)
        except ImportError as exc:
            raise ConfigError(f"MTQ_SHADOW needs sacrebleu ({exc}); install it with "
                              "pip install 'mtq[registry]'") from exc
        self.share = share
        self._engine = engine  # the challenger serving now (it may roll over)
        self._client_idle = client_idle
        self._retranslate = retranslate
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
        job = event.job
        live = [i for i, source in enumerate(job.segments) if source.strip()]
        if not live:
            return
        started = time.monotonic()
        redo = self._retranslate(self._engine(), job)
        found = agreement([event.translations[i] for i in live],
                          [redo.translations[i] for i in live])
        metrics = self.metrics
        metrics.jobs.inc()
        metrics.segments.inc(len(live))
        metrics.chrf.observe(found.chrf)
        metrics.length_ratio.observe(found.length_ratio)
        for i in live:
            metrics.confidence_delta.observe(redo.confidence[i] - event.confidence[i])
        champion, challenger = warning_codes(event.warnings), warning_codes(redo.warnings)
        for side, codes in ((CHAMPION, champion), (CHALLENGER, challenger)):
            for segment_codes in codes.values():
                for code in segment_codes:
                    metrics.warnings.labels(side=side, code=code).inc()
        metrics.warning_disagreements.inc(
            sum(champion.get(i, frozenset()) != challenger.get(i, frozenset()) for i in live))
        log.debug("shadow: job %s chrF %.1f, length ratio %.2f (%.2f s)", event.job_id,
                  found.chrf, found.length_ratio, time.monotonic() - started)
