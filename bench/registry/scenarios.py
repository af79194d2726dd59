"""The three runs of ``python -m bench registry`` and what each one measures.

- rollover: the alias moves from version 1 to 2 once a quarter of the results are in;
- canary: ``MTQ_CANARY`` at a share, the alias and the challenger fixed;
- shadow: the same jobs without and with ``MTQ_SHADOW``, back to back.

Every run checks its results against the two versions' known translations
(:class:`~bench.registry.versions.Sentences`): a job is *mixed* when its segments come from
both versions, or from another version than its event names.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.registry.stream import Result, Streamed, Watch, job_body, stream
from bench.registry.versions import Registered, Sentences
from mtq.core.model_routes import canary_point
from mtq.core.settings import Settings


@dataclass(frozen=True)
class Plan:
    """What every run shares."""

    registered: Registered
    sentences: Sentences
    settings: Settings  # the worker's (threads, poll interval, decode defaults)
    options: dict[str, int]  # each job's decode options
    jobs: int
    segments: int  # per job
    cache: Path

    def workload(self, prefix: str) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        pool = self.sentences.sources
        bodies, sources = [], {}
        for n in range(self.jobs):
            job_id = f"{prefix}-{uuid.uuid4().hex[:12]}"
            segments = [pool[(n * self.segments + i) % len(pool)] for i in range(self.segments)]
            bodies.append(job_body(job_id, segments, self.options))
            sources[job_id] = segments
        return bodies, sources

    @property
    def reference(self) -> str:
        return f"models:/{self.registered.name}@champion"


@dataclass(frozen=True)
class Checked:
    """Lost, failed and mixed jobs of a run, and the jobs each version answered."""

    published: int
    lost: int
    failed: int
    mixed: int
    unrecognised_segments: int  # segments neither version's known translation (not mixed)
    by_version: dict[str, int]


def check(sentences: Sentences, sources: dict[str, list[str]], streamed: Streamed) -> Checked:
    results = streamed.results
    failed = mixed = unrecognised = 0
    by_version: dict[str, int] = {}
    for job_id, result in results.items():
        if result.type != "job.completed":
            failed += 1
            continue
        by_version[str(result.version)] = by_version.get(str(result.version), 0) + 1
        found = [sentences.version_of(s, t)
                 for s, t in zip(sources[job_id], result.translations, strict=True)]
        unrecognised += sum(v is None for v in found)
        if {v for v in found if v is not None} - {result.version}:
            mixed += 1
    lost = sum(job_id not in results for job_id in sources)
    return Checked(len(sources), lost, failed, mixed, unrecognised, by_version)


def rate(results: dict[str, Result], start: float, end: float) -> float:
    """Results per second that arrived in ``[start, end)``."""
    if end <= start:
        return 0.0
    return sum(start <= r.arrived < end for r in results.values()) / (end - start)


def nth_arrival(results: dict[str, Result], share: float) -> float:
    times = sorted(r.arrived for r in results.values())
    return times[min(len(times) - 1, int(share * len(times)))]


# -- rollover ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollover:
    checked: Checked
    move_to_switch_s: float  # alias moved -> the worker's switch counter went up
    move_to_first_v2_s: float  # alias moved -> the first result from version 2
    load_s: float  # fetch, load and warm-up (mtq_registry_switch_seconds)
    move_to_freed_s: float  # alias moved -> one model resident again
    resident_after: int
    rss_mib: tuple[float, float, float]  # before the move, peak until freed, at the end
    rates: tuple[float, float, float]  # results/s before the move, during the load, after


def rollover(plan: Plan) -> Rollover:
    registered = plan.registered
    registered.move_alias("champion", "1")
    bodies, sources = plan.workload("roll")
    move_at = max(1, plan.jobs // 4)
    reference = plan.reference

    def on_progress(watch: Watch) -> None:
        marks, now = watch.marks, time.monotonic()
        if "moved" not in marks and watch.done >= move_at:
            registered.move_alias("champion", "2")
            marks["moved"] = time.monotonic()
        if "moved" in marks and "switched" not in marks and watch.metric(
                "mtq_registry_switches_total", model=reference) >= 1:
            marks["switched"] = now
            marks["load_s"] = watch.metric("mtq_registry_switch_seconds", model=reference)
        if "switched" in marks and "freed" not in marks and len(watch.worker.models.engines) == 1:
            marks["freed"] = now

    streamed = stream(plan.settings.replace(model=reference), registered.url, plan.cache,
                      bodies, on_progress=on_progress, settle=lambda w: "freed" in w.marks)
    marks, results = streamed.marks, streamed.results
    moved = marks["moved"]
    switched = marks.get("switched", float("nan"))
    first_v2 = min((r.arrived for r in results.values() if r.version == "2"),
                   default=float("nan"))
    start = nth_arrival(results, 0.05)  # before this the pipeline fills up
    end = nth_arrival(results, 0.95)  # past this the backlog runs out: not saturated
    mib = [(t, b / 2**20) for t, b in streamed.rss]
    freed = marks.get("freed", mib[-1][0])
    before = max((m for t, m in mib if t < moved), default=0.0)
    return Rollover(
        check(plan.sentences, sources, streamed), switched - moved, first_v2 - moved,
        marks.get("load_s", float("nan")), freed - moved, streamed.resident_after,
        (before, max(m for t, m in mib if moved <= t <= freed + 1), mib[-1][1]),
        (rate(results, start, moved), rate(results, moved, switched),
         rate(results, switched, end)),
    )


# -- canary --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CanaryRun:
    checked: Checked
    share: float
    measured: float  # share of the jobs answered with role "canary"
    by_hash: float  # share of the job ids that hash below the setting
    misrouted: int  # jobs not on the side their id's hash names


def canary(plan: Plan, share: float) -> CanaryRun:
    registered = plan.registered
    registered.move_alias("champion", "1")
    registered.move_alias("challenger", "2")
    bodies, sources = plan.workload("canary")
    settings = plan.settings.replace(
        model=plan.reference, canary=f"models:/{registered.name}@challenger:{share}")
    streamed = stream(settings, registered.url, plan.cache, bodies)
    results = streamed.results
    to_canary = {job_id for job_id in sources if canary_point(job_id) < share}
    misrouted = sum((r.role == "canary") != (job_id in to_canary) or
                    r.version != ("2" if job_id in to_canary else "1")
                    for job_id, r in results.items())
    answered = max(len(results), 1)
    return CanaryRun(check(plan.sentences, sources, streamed), share,
                     sum(r.role == "canary" for r in results.values()) / answered,
                     len(to_canary) / len(sources), misrouted)


# -- shadow --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShadowPair:
    """The same jobs without and with the shadow, at one publishing pace."""

    pace: float  # jobs/s published (0: all at once, the worker saturated)
    checked: tuple[Checked, Checked]
    results_per_s: tuple[float, float]  # first publish to last result
    latency_s: tuple[tuple[float, float], tuple[float, float]]  # (p50, p95) per run
    metrics: dict[str, float]  # mtq_shadow_* samples after the run with it


@dataclass(frozen=True)
class ShadowRun:
    share: float
    offered: int  # jobs whose id hashes below the share
    saturated: ShadowPair
    paced: ShadowPair | None


def shadow(plan: Plan, share: float, paced: float) -> ShadowRun:
    """Saturated first; then, with ``paced`` > 0, published at that fraction of the
    saturated rate without the shadow, so the worker has idle time to lend it."""
    registered = plan.registered
    registered.move_alias("champion", "1")
    registered.move_alias("challenger", "2")
    bodies, sources = plan.workload("shadow")
    offered = sum(canary_point(job_id) < share for job_id in sources)
    setting = f"models:/{registered.name}@challenger:{share}"
    saturated = _shadow_pair(plan, bodies, sources, setting, offered, 0.0)
    pace = paced * saturated.results_per_s[0]
    return ShadowRun(share, offered, saturated,
                     _shadow_pair(plan, bodies, sources, setting, offered, pace) if pace else None)


def _shadow_pair(plan: Plan, bodies: list[dict[str, Any]], sources: dict[str, list[str]],
                 setting: str, offered: int, pace: float) -> ShadowPair:
    runs = []
    for shadowing in ("", setting):
        settings = plan.settings.replace(model=plan.reference, shadow=shadowing)

        def settled(watch: Watch, on: bool = bool(shadowing)) -> bool:
            handled = (watch.metric("mtq_shadow_jobs_total")
                       + watch.metric("mtq_shadow_dropped_total"))
            return not on or handled >= offered

        runs.append(stream(settings, plan.registered.url, plan.cache, bodies, settle=settled,
                           pace=pace))
    without, with_shadow = runs
    return ShadowPair(
        pace, (check(plan.sentences, sources, without), check(plan.sentences, sources,
                                                                with_shadow)),
        (_client_rate(without), _client_rate(with_shadow)),
        (_latency(without, bodies, pace), _latency(with_shadow, bodies, pace)),
        with_shadow.shadow)


def _client_rate(streamed: Streamed) -> float:
    last = max(r.arrived for r in streamed.results.values())
    return len(streamed.results) / max(last - streamed.first_publish, 1e-9)


def _latency(streamed: Streamed, bodies: list[dict[str, Any]], pace: float
             ) -> tuple[float, float]:
    """p50 and p95 from each job's due publish time (the first publish when not paced) to
    its result: a publisher running late counts against the worker."""
    found = sorted(streamed.results[body["job_id"]].arrived - streamed.first_publish
                   - (n / pace if pace else 0.0)
                   for n, body in enumerate(bodies) if body["job_id"] in streamed.results)
    return found[len(found) // 2], found[int(0.95 * (len(found) - 1))]
