"""The benchmark suite: every (model, job mix, strategy) row of ``python -m bench``.

For each model (the tiny model, then the opus-mt-en-de-shaped one) and each job mix (many
1-3-segment jobs; a few jobs of hundreds of segments), every strategy translates the same
segments with the same decode options (beam 4, a bounded ``max_new_tokens`` that every
segment reaches, see :mod:`bench.models`). The strategies are in :mod:`bench.strategies`
(in-process) and :mod:`bench.e2e` (through RabbitMQ, the worker and the dispatcher); one row
is measured by :func:`bench.rows.run_row`.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import MemoryProbe, RecordingEngine, RunResult
from bench.models import build_opus_shaped, build_tiny, fix_output_length
from bench.rows import run_row
from bench.strategies import Packing, warm_engine
from bench.workload import MIXES, make_workload
from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings

log = logging.getLogger("bench")

STRATEGIES = ("limit", "scheduler", "e2e", "e2e-tuned", "naive", "fixed")
IN_PROCESS = ("limit", "scheduler", "naive", "fixed")
MODELS = ("tiny", "opus")
MODEL_LABELS = {"tiny": "tiny", "opus": "opus-shaped"}


@dataclass(frozen=True)
class ModelPlan:
    """How much work one model gets: sized so the whole suite stays near ten minutes."""

    name: str
    segments: int
    max_new_tokens: int
    large_job_size: int


@dataclass(frozen=True)
class SuiteConfig:
    models: tuple[ModelPlan, ...]
    mixes: tuple[str, ...] = MIXES
    strategies: tuple[str, ...] = STRATEGIES
    beam_size: int = 4
    packing: Packing = field(default_factory=Packing)
    fixed_batch: int = 32
    prefetch: int = Settings.model_fields["prefetch"].default  # no Settings at import time
    threads: int = 1
    device: str = "auto"
    webhooks: str = "auto"
    profile_dir: Path | None = None
    profile_gil: bool = False
    seed: int = 2024
    # Re-run a row once when other users' processes took more than this many cores during it.
    rerun_when_others_above: float | None = 0.5
    # e2e-tuned: a worker prefetch of a few micro-batches of small jobs (256 jobs of 1.7
    # segments: about 7 batches of 64), and a dispatcher window whose per-host share (half of
    # it) holds two micro-batches of completions.
    tuned_prefetch: int = 256
    tuned_dispatcher_prefetch: int = 256
    # Only small jobs need it: a prefetch of 16 large jobs already holds thousands of segments.
    tuned_mixes: tuple[str, ...] = ("small",)


FULL_PLANS = {
    "tiny": ModelPlan("tiny", segments=1000, max_new_tokens=32, large_job_size=200),
    "opus": ModelPlan("opus", segments=160, max_new_tokens=12, large_job_size=80),
}
QUICK_PLANS = {
    "tiny": ModelPlan("tiny", segments=60, max_new_tokens=8, large_job_size=30),
    "opus": ModelPlan("opus", segments=12, max_new_tokens=4, large_job_size=6),
}


def run_suite(
    config: SuiteConfig, work_dir: Path, progress: Callable[[str], None] = print,
    tiny_model: Path | None = None,
) -> list[RunResult]:
    """Every (model, mix, strategy) of ``config``; returns one result per row.

    ``tiny_model`` reuses an already built tiny model (it is copied: the run rewrites its
    generation config).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _run_models(config, work_dir, progress, tiny_model)
    finally:
        torch.set_num_threads(threads)


def _run_models(
    config: SuiteConfig, work_dir: Path, progress: Callable[[str], None],
    tiny_model: Path | None,
) -> list[RunResult]:
    from worker.engines.hf import HFEngine

    results: list[RunResult] = []
    tiny_path: Path | None = None
    for plan in config.models:
        started = time.monotonic()
        if tiny_path is None:
            if tiny_model is not None:
                tiny_path = Path(shutil.copytree(tiny_model, work_dir / "models" / "tiny"))
            else:
                tiny_path = build_tiny(work_dir / "models")
        if plan.name == "tiny":
            path = tiny_path
        else:
            path = build_opus_shaped(work_dir / "models", tokenizer_from=tiny_path)
        fix_output_length(path, plan.max_new_tokens)
        settings = config.packing.settings(
            Settings(model=str(path), device=config.device, prefetch=config.prefetch)
        )
        hf = HFEngine(settings)
        vocab = len(hf.tokenizer) if plan.name != "tiny" else None
        engine = RecordingEngine(hf, decode_vocab=vocab)
        device = str(getattr(engine.inner, "device", "cpu"))
        probe = MemoryProbe(cuda=device.startswith("cuda"))
        options = DecodeOptions(config.beam_size, plan.max_new_tokens)
        label = MODEL_LABELS.get(plan.name, plan.name)
        progress(f"[{label}] built and loaded in {time.monotonic() - started:.1f} s ({device})")
        warm_engine(engine, options, config.packing, config.seed)
        for mix in config.mixes:
            workload = make_workload(
                mix, plan.segments, large_job_size=plan.large_job_size, seed=config.seed
            )
            tokens = [engine.encode(list(job)) for job in workload.jobs]
            progress(f"[{label}/{mix}] {workload.describe()}")
            for strategy in config.strategies:
                if strategy == "e2e-tuned" and mix not in config.tuned_mixes:
                    continue
                result = run_row(
                    strategy, label, workload, tokens, engine, options, config, settings,
                    probe, work_dir,
                )
                if result is None:
                    continue
                if _noisy(result, config):
                    progress(
                        f"[{label}/{mix}] {strategy}: other users took "
                        f"{result.others_cores:.2f} cores meanwhile; running it again"
                    )
                    again = run_row(
                        strategy, label, workload, tokens, engine, options, config, settings,
                        probe, work_dir,
                    )
                    if again is not None and (again.others_cores or 0) < (result.others_cores or 0):
                        result = again
                    result.notes.append("re-run once: the machine was busy with other work")
                results.append(result)
                progress(
                    f"[{label}/{mix}] {strategy:9s} {result.segments_per_s:8.1f} seg/s  "
                    f"{result.wall_s:7.2f} s  pad {100 * result.padding_waste:4.1f}%  "
                    f"busy {100 * result.engine_busy:3.0f}%"
                    + (f"  ({'; '.join(result.notes)})" if result.notes else "")
                )
        del engine
    return results


def _noisy(result: RunResult, config: SuiteConfig) -> bool:
    others = result.others_cores
    return config.rerun_when_others_above is not None and others is not None and (
        others > config.rerun_when_others_above
    )


