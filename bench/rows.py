"""One row of the suite: run a strategy on a loaded engine and collect its numbers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bench.cpu import CpuAccount
from bench.measure import MemoryProbe, RecordingEngine, RunResult
from bench.strategies import Timing, run_fixed, run_limit, run_naive, run_scheduler
from bench.workload import Workload
from mtq.contract import DecodeOptions
from mtq.settings import Settings

log = logging.getLogger("bench")


def run_row(
    strategy: str, model: str, workload: Workload, tokens: list[list[list[int]]],
    engine: RecordingEngine, options: DecodeOptions, config: Any, settings: Settings,
    probe: MemoryProbe, work_dir: Path,
) -> RunResult | None:
    from bench.profiling import PySpy, summarize

    notes: list[str] = []
    extra: dict[str, Any] = {}
    profiler = None
    if config.profile_dir is not None:
        profiler = PySpy(
            config.profile_dir / f"{model}-{workload.mix}-{strategy}.txt", gil=config.profile_gil
        )
    engine.reset()
    probe.reset()
    account = CpuAccount({})
    account.start()
    timing: Timing
    if profiler is not None:
        profiler.__enter__()
    try:
        if strategy == "limit":
            timing = run_limit(engine.generate, tokens, options, config.packing)
        elif strategy == "scheduler":
            timing = run_scheduler(engine, tokens, options, settings)
        elif strategy == "naive":
            timing = run_naive(engine.generate, tokens, options, config.fixed_batch)
        elif strategy == "fixed":
            timing = run_fixed(engine.generate, tokens, options, config.fixed_batch)
        elif strategy in ("e2e", "e2e-tuned"):
            from bench.e2e import BrokerUnavailable, run_end_to_end

            if strategy == "e2e-tuned":
                settings = settings.replace(
                    prefetch=config.tuned_prefetch,
                    dispatcher_prefetch=config.tuned_dispatcher_prefetch,
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
            timing = Timing(e2e.wall_s, e2e.job_latencies_s)
            notes += e2e.notes
            notes.append(
                f"{strategy}: timed to {e2e.sink}; worker prefetch {settings.prefetch}, "
                f"dispatcher prefetch {settings.dispatcher_prefetch}"
            )
            extra["publish_s"] = round(e2e.publish_s, 3)
            extra["duplicates"] = e2e.duplicates
            extra["cpu_s"] = e2e.cpu_s
            finished = [b.finished_at for b in engine.snapshot()]
            if finished:
                extra["compute_done_s"] = round(max(finished) - e2e.first_publish, 3)
            if e2e.deferred_webhooks is not None:
                extra["deferred_webhooks"] = e2e.deferred_webhooks
                if e2e.deferred_webhooks:
                    notes.append(
                        f"dispatcher deferred {e2e.deferred_webhooks} webhooks "
                        "(per-host backlog full)"
                    )
            if e2e.dispatcher_peak_rss_bytes:
                extra["dispatcher_peak_rss_mib"] = round(e2e.dispatcher_peak_rss_bytes / 2**20, 1)
        else:
            raise ValueError(f"unknown strategy {strategy!r}")
    finally:
        if profiler is not None:
            profiler.__exit__(None, None, None)
    extra.setdefault("cpu_s", account.stop())
    if profiler is not None:
        if profiler.error:
            notes.append(f"profile failed: {profiler.error}")
        else:
            summary = summarize(profiler.output)
            profiler.output.with_suffix(".summary.txt").write_text(summary + "\n")
            log.info("profile of %s/%s/%s:\n%s", model, workload.mix, strategy, summary)
    return RunResult(
        model=model, mix=workload.mix, strategy=strategy, jobs=len(workload.jobs),
        segments=workload.segments, wall_s=timing.wall_s,
        job_latencies_s=timing.job_latencies_s, batches=engine.snapshot(),
        peak_rss_bytes=probe.peak_rss_bytes(), peak_gpu_bytes=probe.peak_gpu_bytes(),
        notes=notes, extra=extra,
    )
