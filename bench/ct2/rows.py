"""The CPU rows: engine limit for every set-up, then mtq end to end for some."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.ct2.config import Ct2Config, EngineConfig
from bench.ct2.engines import loaded, row_result
from bench.ct2.models import build_models, cap_floor, shortest_source

log = logging.getLogger("bench.ct2")


def run_cpu(
    config: Ct2Config, work_dir: Path, progress: Callable[[str], None] = print,
    tiny_model: Path | None = None,
) -> tuple[list[Any], list[str]]:
    """Every row of ``config`` on this machine's CPU; returns (results, notes)."""
    from bench.cpu import CpuAccount
    from bench.strategies import Packing, run_limit, warm_engine
    from bench.workload import make_workload
    from mtq.core.contract import DecodeOptions

    started = time.monotonic()
    hf_path, ct2_path = build_models(
        work_dir / "models", config.model, config.max_new_tokens, tiny_model
    )
    progress(f"models built and converted in {time.monotonic() - started:.1f} s")
    packing = Packing(config.token_budget, config.max_batch_segments, config.max_wait_s)
    options = DecodeOptions(config.beam_size, config.max_new_tokens)
    workload = make_workload(
        config.mix, config.segments, large_job_size=min(config.large_job_size, config.segments),
        seed=config.seed,
    )
    label_model = "opus-shaped" if config.model == "opus" else config.model
    notes: list[str] = []
    results: list[Any] = []
    tokens: list[list[list[int]]] | None = None
    for engine_config, strategies in config.engines():
        with loaded(engine_config, hf_path, ct2_path) as (engine, settings):
            if tokens is None:
                tokens = [engine.encode(list(job)) for job in workload.jobs]
                floor = cap_floor(tokens)
                if config.max_new_tokens > floor:
                    notes.append(
                        f"max_new_tokens {config.max_new_tokens} is above CTranslate2's cap "
                        f"for the shortest batch ({floor}): CT2 decodes fewer tokens there; "
                        "compare generated tok/s"
                    )
                progress(f"[{label_model}/{config.mix}] {workload.describe()}; shortest source "
                         f"{shortest_source(tokens)} tokens (CT2 cap >= {floor})")
            warm_engine(engine, options, packing, config.seed)
            for strategy in strategies:
                engine.reset()
                account = CpuAccount({})
                account.start()
                if strategy == "limit":
                    timing = run_limit(engine.generate, tokens, options, packing)
                    result = row_result(
                        engine_config.label, config.mix, "limit", len(workload.jobs),
                        workload.segments, timing, engine, account.stop(), engine_config,
                    )
                else:
                    result = _run_e2e(
                        engine, engine_config, settings, workload, options, packing, config,
                        work_dir,
                    )
                    if result is None:
                        notes.append("no local RabbitMQ: the end-to-end rows were skipped")
                        continue
                results.append(result)
                progress(
                    f"[{engine_config.label}] {strategy:5s} {result.segments_per_s:8.2f} seg/s "
                    f"{result.generated_tokens_per_s:9.1f} gen tok/s  {result.wall_s:6.2f} s"
                )
    return results, notes


def _run_e2e(
    engine: Any, engine_config: EngineConfig, settings: Any, workload: Any, options: Any,
    packing: Any, config: Ct2Config, work_dir: Path,
) -> Any | None:
    from bench.e2e import BrokerUnavailable, run_end_to_end
    from bench.strategies import Timing

    settings = settings.replace(
        batch_tokens=packing.token_budget, max_batch_segments=packing.max_batch_segments,
        batch_max_wait_ms=round(packing.max_wait_s * 1000),
    )
    try:
        e2e = run_end_to_end(
            engine, [list(job) for job in workload.jobs],
            {"beam_size": options.beam_size, "max_new_tokens": options.max_new_tokens},
            settings, webhooks=config.webhooks, on_start=engine.reset, work_dir=work_dir,
        )
    except BrokerUnavailable as exc:
        log.warning("skipping the end-to-end rows: %s", exc)
        return None
    result = row_result(
        engine_config.label, config.mix, "e2e", len(workload.jobs), workload.segments,
        Timing(e2e.wall_s, e2e.job_latencies_s), engine, e2e.cpu_s, engine_config,
        [f"e2e: timed to the {e2e.sink}", *e2e.notes],
    )
    finished = [b.finished_at for b in engine.snapshot()]
    if finished:
        result.extra["compute_done_s"] = round(max(finished) - e2e.first_publish, 3)
    return result
