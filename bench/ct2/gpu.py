"""The GPU rows of the comparison: CTranslate2 float16 and int8_float16 beside HF bf16.

Run by ``python -m bench gpu --ct2`` (``bash bench/gpu.sh --ct2``) after the HF GPU rows:
engine limit at each packing, then the in-process scheduler at the fastest one, on the
opus-shaped model and the small-jobs mix. Prints ``skipped: no CUDA`` where ctranslate2 sees
no GPU, unless ``tiny`` (a CPU check of the script).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.ct2.config import EngineConfig
from bench.ct2.engines import loaded, row_result
from bench.ct2.models import build_models, cap_floor
from bench.ct2.report import text_table


@dataclass(frozen=True)
class GpuSizes:
    segments: int
    max_new_tokens: int
    budget_s: float
    packings: tuple[tuple[int, int], ...] = ((8192, 64), (32768, 256))


GPU_FULL = GpuSizes(segments=768, max_new_tokens=30, budget_s=150)
GPU_TINY = GpuSizes(segments=16, max_new_tokens=4, budget_s=120, packings=((512, 8),))


@dataclass
class _GpuRun:
    started: float
    budget_s: float
    results: list[Any] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    last_s: float = 0.0

    def fits(self) -> bool:
        return time.monotonic() - self.started + self.last_s <= self.budget_s


@dataclass(frozen=True)
class GpuArgs:
    """What ``python -m bench gpu`` passes on (the sizes default to :data:`GPU_FULL` or,
    with ``tiny``, :data:`GPU_TINY`)."""

    tiny: bool = False
    model: str = "opus"
    segments: int | None = None
    max_new_tokens: int | None = None
    budget_s: float | None = None


def run_gpu_rows(args: GpuArgs, notes: list[str] | None = None) -> int:
    """The GPU rows; runs where only torch, transformers and ctranslate2 are installed
    (``notes``: those of :func:`bench.compat.install_fallbacks`, already called)."""
    notes = list(notes or [])
    try:
        import ctranslate2
    except ImportError:
        print("skipped: ctranslate2 not installed (pip install ctranslate2)")
        return 0
    import torch

    cuda = int(ctranslate2.get_cuda_device_count()) > 0
    if not cuda and not args.tiny:
        print("skipped: no CUDA" + (
            " for ctranslate2 (torch sees a GPU: ctranslate2 needs the CUDA 12 libraries, "
            "e.g. libcublas.so.12, on the library path)" if torch.cuda.is_available() else ""
        ))
        return 0

    from bench.strategies import Packing
    from bench.workload import make_workload
    from mtq.core.contract import DecodeOptions

    sizes = GPU_TINY if args.tiny else GPU_FULL
    segments = args.segments or sizes.segments
    max_new = args.max_new_tokens or sizes.max_new_tokens
    run = _GpuRun(time.monotonic(), args.budget_s or sizes.budget_s)
    device = "cuda" if cuda and torch.cuda.is_available() else "cpu"
    if device == "cpu":
        notes.append("no CUDA: a CPU check of the script (float16 -> float32, int8_float16 -> "
                     "int8), its numbers are not GPU ones")
    hf_dtype = "float32"
    if device == "cuda":
        hf_dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    engines = [
        EngineConfig("hf", hf_dtype),
        EngineConfig("ctranslate2", "float16" if device == "cuda" else "float32"),
        EngineConfig("ctranslate2", "int8_float16" if device == "cuda" else "int8"),
    ]
    options = DecodeOptions(4, max_new)
    workload = make_workload("small", segments)
    with tempfile.TemporaryDirectory(prefix="mtq-ct2-gpu-") as scratch:
        hf_path, ct2_path = build_models(
            Path(scratch), "tiny" if args.model == "tiny" else "opus", max_new
        )
        print(f"models built and converted in {time.monotonic() - run.started:.1f} s",
              file=sys.stderr, flush=True)
        tokens: list[list[list[int]]] | None = None
        for config in engines:
            if not run.fits():
                run.skipped.append(f"{config.label}: time budget")
                continue
            with loaded(config, hf_path, ct2_path, device) as (engine, _settings):
                if tokens is None:
                    tokens = [engine.encode(list(job)) for job in workload.jobs]
                    floor = cap_floor(tokens)
                    if max_new > floor:
                        notes.append(f"max_new_tokens {max_new} > CT2 cap of the shortest batch "
                                     f"({floor}): compare generated tok/s")
                _gpu_rows(config, engine, tokens, options, workload, run,
                          [Packing(b, s) for b, s in sizes.packings])
    from bench.machine import describe

    machine = describe(device)
    print(f"machine: {', '.join(f'{k} {v}' for k, v in machine.items())}")
    print(f"ctranslate2 {ctranslate2.__version__}; workload: {workload.describe()} (small mix); "
          f"beam 4, max_new_tokens {max_new}; wall {time.monotonic() - run.started:.0f} s\n")
    print(text_table(run.results))
    for note in notes + [f"skipped {s}" for s in run.skipped]:
        print(f"note: {note}")
    return 0


def _gpu_rows(
    config: EngineConfig, engine: Any, tokens: list[list[list[int]]], options: Any,
    workload: Any, run: _GpuRun, packings: list[Any],
) -> None:
    """Limit at each packing, then the in-process scheduler at the fastest one."""
    from bench.cpu import CpuAccount
    from bench.strategies import run_limit, run_scheduler, warm_engine

    def measure(strategy: str, body: Callable[[], Any]) -> Any | None:
        if not run.fits():
            run.skipped.append(f"{config.label} {strategy}: time budget")
            return None
        engine.reset()
        account = CpuAccount({})
        account.start()
        timing = body()
        run.last_s = timing.wall_s
        result = row_result(config.label, "small", strategy, len(workload.jobs),
                         workload.segments, timing, engine, account.stop(), config)
        run.results.append(result)
        print(f"[{config.label}] {strategy:22s} {result.segments_per_s:9.1f} seg/s "
              f"{result.generated_tokens_per_s:10.0f} gen tok/s", file=sys.stderr, flush=True)
        return result

    warm_engine(engine, options, packings[0])
    limits = []
    for packing in packings:
        def limit(packing: Any = packing) -> Any:
            return run_limit(engine.generate, tokens, options, packing)

        result = measure(f"limit {packing.token_budget}/{packing.max_batch_segments}", limit)
        if result is not None:
            limits.append((result.segments_per_s, packing))
    if limits:
        best = max(limits, key=lambda item: item[0])[1]
        measure(f"scheduler {best.token_budget}/{best.max_batch_segments}",
                lambda: run_scheduler(engine, tokens, options, best.settings()))
