"""A finished job's translations reviewed: guard warnings, confidence metrics, calibration.

:meth:`OutputReview.bounds` and :meth:`OutputReview.record` run on the event loop (they read and
update the calibration); :func:`review` is pure and runs in the tokenizer pool with the rest of
the result's assembly, so a long segment's checks never hold up the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mtq.core.contract import Job
from mtq.core.markup import SegmentWarning
from mtq.core.vouch import Checked, LengthCalibration, check_segment
from worker.metrics import WorkerMetrics

Bounds = tuple[float, float] | None


@dataclass(frozen=True)
class Reviewed:
    """A job's guard warnings, and which segments no guard flagged (they calibrate)."""

    warnings: tuple[SegmentWarning, ...]
    clean: tuple[int, ...]


def languages_differ(source_lang: str, target_lang: str) -> bool:
    """Whether the pair's primary languages differ (``en-US`` to ``en-GB`` does not)."""
    def primary(tag: str) -> str:
        return tag.replace("_", "-").split("-")[0].lower()
    return primary(source_lang) != primary(target_lang)


def review(
    job: Job, translations: Sequence[str], confidence: Sequence[float],
    ended: Sequence[bool], bounds: Bounds,
) -> Reviewed:
    """Every guard on every translated (non-blank) segment of ``job``."""
    differ = languages_differ(job.source_lang, job.target_lang)
    warnings: list[SegmentWarning] = []
    clean: list[int] = []
    for index, source in enumerate(job.segments):
        if not source.strip():
            continue
        segment = Checked(source, translations[index], confidence[index], ended[index])
        findings = check_segment(segment, languages_differ=differ, length_bounds=bounds,
                                 min_confidence=job.vouch.min_confidence)
        warnings.extend(SegmentWarning(index, f.code, f.message) for f in findings)
        if not findings:
            clean.append(index)
    return Reviewed(tuple(warnings), tuple(clean))


class OutputReview:
    """The worker's one reviewer: calibration per (model, pair) and the metrics per route."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self._metrics = metrics
        self._lengths = LengthCalibration()

    def bounds(self, model: str, job: Job) -> Bounds:
        return self._lengths.bounds((model, job.route))

    def record(
        self, model: str, job: Job, translations: Sequence[str], confidence: Sequence[float],
        reviewed: Reviewed,
    ) -> None:
        """Metrics of a reviewed job; its clean outputs join the length calibration."""
        route = job.route
        for index, source in enumerate(job.segments):
            if source.strip():
                self._metrics.segment_confidence.labels(route=route).observe(confidence[index])
        for warning in reviewed.warnings:
            self._metrics.guard_warnings_total.labels(route=route, code=warning.code).inc()
        for index in reviewed.clean:
            self._lengths.observe((model, route), job.segments[index], translations[index])
