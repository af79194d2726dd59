"""One row of the suite: run a strategy on a loaded engine and collect its numbers."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cpu import CpuAccount
from bench.measure import MemoryProbe, RecordingEngine, RunResult
from bench.strategies import Timing, run_fixed, run_limit, run_naive, run_scheduler
from bench.workload import Workload
from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings

log = logging.getLogger("bench")


@dataclass
class _Measured:
    """What one strategy run adds to its row."""

    timing: Timing
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def run_row(
    strategy: str, model: str, workload: Workload, tokens: list[list[list[int]]],
    engine: RecordingEngine, options: DecodeOptions, config: Any, settings: Settings,
    probe: MemoryProbe, work_dir: Path,
) -> RunResult | None:
    """One row (None: an end-to-end row without a local broker)."""
    from bench.profiling import PySpy

    profiler = None
    if config.profile_dir is not None:
        profiler = PySpy(
            config.profile_dir / f"{model}-{workload.mix}-{strategy}.txt", gil=config.profile_gil
        )
    engine.reset()
    probe.reset()
    account = CpuAccount({})
    account.start()
    with profiler if profiler is not None else contextlib.nullcontext():
        if strategy in ("e2e", "e2e-tuned"):
            measured = _end_to_end(strategy, workload, engine, options, config, settings, probe,
                                   work_dir)
        else:
            measured = _Measured(_in_process(strategy, tokens, engine, options, config, settings))
    if measured is None:
        return None
    measured.extra.setdefault("cpu_s", account.stop())
    if profiler is not None:
        measured.notes += _profile_notes(profiler, f"{model}/{workload.mix}/{strategy}")
    timing = measured.timing
    return RunResult(
        model=model, mix=workload.mix, strategy=strategy, jobs=len(workload.jobs),
        segments=workload.segments, wall_s=timing.wall_s,
        job_latencies_s=timing.job_latencies_s, batches=engine.snapshot(),
        peak_rss_bytes=probe.peak_rss_bytes(), peak_gpu_bytes=probe.peak_gpu_bytes(),
        notes=measured.notes, extra=measured.extra,
    )


def _in_process(
    strategy: str, tokens: list[list[list[int]]], engine: RecordingEngine,
    options: DecodeOptions, config: Any, settings: Settings,
) -> Timing:
    if strategy == "limit":
        return run_limit(engine.generate, tokens, options, config.packing)
    if strategy == "scheduler":
        return run_scheduler(engine, tokens, options, settings)
    if strategy == "naive":
        return run_naive(engine.generate, tokens, options, config.fixed_batch)
    if strategy == "fixed":
        return run_fixed(engine.generate, tokens, options, config.fixed_batch)
    raise ValueError(f"unknown strategy {strategy!r}")


def _end_to_end(
    strategy: str, workload: Workload, engine: RecordingEngine, options: DecodeOptions,
    config: Any, settings: Settings, probe: MemoryProbe, work_dir: Path,
) -> _Measured | None:
    from bench.e2e import BrokerUnavailable, run_end_to_end

    if strategy == "e2e-tuned":
        settings = settings.replace(
            prefetch=config.tuned_prefetch, dispatcher_prefetch=config.tuned_dispatcher_prefetch,
        )

    def start() -> None:
        engine.reset()
        probe.reset()

    try:
        e2e = run_end_to_end(
            engine, [list(job) for job in workload.jobs],
            {"beam_size": options.beam_size, "max_new_tokens": options.max_new_tokens},
            settings, webhooks=config.webhooks, on_start=start, work_dir=work_dir,
        )
    except BrokerUnavailable as exc:
        log.warning("skipping the end-to-end run: %s", exc)
        return None
    measured = _Measured(Timing(e2e.wall_s, e2e.job_latencies_s), [
        *e2e.notes,
        f"{strategy}: timed to {e2e.sink}; worker prefetch {settings.prefetch}, "
        f"dispatcher prefetch {settings.dispatcher_prefetch}",
    ], {"publish_s": round(e2e.publish_s, 3), "duplicates": e2e.duplicates, "cpu_s": e2e.cpu_s})
    finished = [b.finished_at for b in engine.snapshot()]
    if finished:
        measured.extra["compute_done_s"] = round(max(finished) - e2e.first_publish, 3)
    if e2e.deferred_webhooks is not None:
        measured.extra["deferred_webhooks"] = e2e.deferred_webhooks
        if e2e.deferred_webhooks:
            measured.notes.append(
                f"dispatcher deferred {e2e.deferred_webhooks} webhooks (per-host backlog full)"
            )
    if e2e.dispatcher_peak_rss_bytes:
        measured.extra["dispatcher_peak_rss_mib"] = round(
            e2e.dispatcher_peak_rss_bytes / 2**20, 1
        )
    return measured


def _profile_notes(profiler: Any, row: str) -> list[str]:
    """Write the profile's summary beside it; a note when profiling failed."""
    from bench.profiling import summarize

    if profiler.error:
        return [f"profile failed: {profiler.error}"]
    summary = summarize(profiler.output)
    profiler.output.with_suffix(".summary.txt").write_text(summary + "\n")
    log.info("profile of %s:\n%s", row, summary)
    return []
