"""The GPU benchmark, for a machine with torch and transformers and nothing else.

    bash bench/gpu.sh            # on the GPU machine: under 5 minutes, prints the table
    bash bench/gpu.sh --tiny     # a seconds-long check of the script (works on CPU)
    bash bench/gpu.sh --ct2      # then the CTranslate2 GPU rows (bench/ct2/gpu.py)

``bench/gpu.sh`` runs ``python -m bench gpu`` with a timeout and the offline environment.

No RabbitMQ: it compares the raw engine on ideally packed batches (``limit``) with the
worker's in-process scheduler and inference thread (``scheduler``), sweeps the batch size
(token budget and segment cap, plus the budget the worker would size from GPU memory), runs
fp32 and bf16, and a naive one-job-at-a-time baseline on the first jobs, all on the
opus-mt-en-de-shaped model (:mod:`bench.models`) with the many-small-jobs mix. A time guard
skips what would not fit in ``--budget-s``. With ``--ct2`` (needs ctranslate2), the
CTranslate2 float16 / int8_float16 rows beside HF bf16 follow, in their own table and time
budget (:mod:`bench.ct2.gpu`), once this table is printed.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.compat import install_fallbacks

SWEEP = ((8192, 64), (16384, 128), (32768, 256), (65536, 512))


@dataclass(frozen=True)
class Sizes:
    segments: int
    max_new_tokens: int
    naive_jobs: int
    budget_s: float


FULL = Sizes(segments=768, max_new_tokens=64, naive_jobs=24, budget_s=210)
TINY = Sizes(segments=24, max_new_tokens=4, naive_jobs=4, budget_s=120)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench gpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a few segments: checks the script")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--segments", type=int)
    parser.add_argument("--max-new-tokens", type=int)
    parser.add_argument("--budget-s", type=float, help="stop starting runs after this long")
    parser.add_argument("--ct2", action="store_true",
                        help="then the CTranslate2 GPU rows ('skipped: no CUDA' without)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", message="Unfeasible length constraints")
    fallbacks = install_fallbacks()
    notes = list(fallbacks)

    import torch

    from bench.workload import make_workload
    from mtq.core.contract import DecodeOptions

    started = time.monotonic()
    sizes = TINY if args.tiny else FULL
    segments = args.segments or sizes.segments
    max_new = args.max_new_tokens or sizes.max_new_tokens
    device = "cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and device != "cuda":
        raise SystemExit("--device cuda, but torch sees no CUDA device")
    if device == "cpu":
        notes.append("no CUDA device: a CPU run checks the script, its numbers are not GPU ones")
    options = DecodeOptions(4, max_new)
    workload = make_workload("small", segments)
    clock = _Clock(started, args.budget_s or sizes.budget_s)

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        _all_dtypes(args, device, max_new, options, workload, sizes, clock, notes, started)
    except _Stopped:
        notes.append("stopped by SIGTERM (the outer timeout): the table is partial")
    _print(device, workload, max_new, started, clock, notes)
    if args.ct2:
        return _ct2_rows(args.tiny, fallbacks)
    return 0


def _ct2_rows(tiny: bool, fallbacks: list[str]) -> int:
    from bench.ct2.gpu import GpuArgs, run_gpu_rows

    print("\n-- CTranslate2 GPU rows --", flush=True)
    try:
        return run_gpu_rows(GpuArgs(tiny=tiny), fallbacks)
    except _Stopped:
        print("note: CTranslate2 rows stopped by SIGTERM (the outer timeout)")
        return 0


class _Stopped(Exception):
    pass


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise _Stopped


def _all_dtypes(
    args: argparse.Namespace, device: str, max_new: int, options: Any, workload: Any,
    sizes: Sizes, clock: _Clock, notes: list[str], started: float,
) -> None:
    import torch

    from bench.measure import MemoryProbe, RecordingEngine
    from bench.models import OPUS_MT_EN_DE, build_opus_shaped, fix_output_length
    from mtq.core.settings import Settings
    from worker.engines.hf import HFEngine

    with tempfile.TemporaryDirectory(prefix="mtq-gpu-bench-") as scratch:
        path = build_opus_shaped(Path(scratch))
        fix_output_length(path, max_new)
        print(f"model built in {time.monotonic() - started:.1f} s: opus-mt-en-de shape "
              f"({OPUS_MT_EN_DE.describe()}), random weights", file=sys.stderr, flush=True)
        for dtype in [d.strip() for d in args.dtypes.split(",") if d.strip()]:
            if dtype == "bfloat16" and device == "cuda" and not torch.cuda.is_bf16_supported():
                clock.skipped.append("bfloat16: not supported by this GPU")
                continue
            hf = HFEngine(Settings(model=str(path), device=device, dtype=dtype))
            engine = RecordingEngine(hf, decode_vocab=len(hf.tokenizer))
            label = f"opus-shaped {'bf16' if dtype == 'bfloat16' else 'fp32'}"
            _run_dtype(label, engine, MemoryProbe(cuda=device == "cuda"), workload, options,
                       sizes.naive_jobs, clock, notes)
            del engine
            if device == "cuda":
                torch.cuda.empty_cache()


def _print(
    device: str, workload: Any, max_new: int, started: float, clock: _Clock, notes: list[str]
) -> None:
    from bench import report
    from bench.machine import describe

    machine = describe(device)
    print(f"machine: {', '.join(f'{k} {v}' for k, v in machine.items())}")
    print(f"workload: {workload.describe()}; beam 4, every segment generates exactly "
          f"{max_new} tokens; wall {time.monotonic() - started:.0f} s")
    print()
    print(report.text_table(clock.results))
    print()
    print(_ratios(clock.results))
    for note in notes + [f"skipped {s}" for s in clock.skipped]:
        print(f"note: {note}")


class _Clock:
    """Collects results and refuses to start a run that would overrun the time budget."""

    def __init__(self, started: float, budget_s: float) -> None:
        self.started = started
        self.budget_s = budget_s
        self.last_run_s = 0.0
        self.results: list[Any] = []
        self.skipped: list[str] = []

    def measure(
        self, label: str, strategy: str, engine: Any, probe: Any, run: Callable[[], Any],
        jobs: int, segments: int,
    ) -> Any:
        from bench.cpu import CpuAccount
        from bench.measure import RunResult

        if time.monotonic() - self.started + self.last_run_s > self.budget_s:
            self.skipped.append(f"{label} {strategy}: time budget")
            return None
        engine.reset()
        probe.reset()
        account = CpuAccount({})
        account.start()
        timing = run()
        self.last_run_s = timing.wall_s
        result = RunResult(
            model=label, mix="small", strategy=strategy, jobs=jobs, segments=segments,
            wall_s=timing.wall_s, job_latencies_s=timing.job_latencies_s,
            batches=engine.snapshot(), peak_rss_bytes=probe.peak_rss_bytes(),
            peak_gpu_bytes=probe.peak_gpu_bytes(), extra={"cpu_s": account.stop()},
        )
        self.results.append(result)
        print(f"[{label}] {strategy:28s} {result.segments_per_s:9.1f} seg/s "
              f"{result.wall_s:7.2f} s", file=sys.stderr, flush=True)
        return result


def _run_dtype(
    label: str, engine: Any, probe: Any, workload: Any, options: Any, naive_jobs: int,
    clock: _Clock, notes: list[str],
) -> None:
    """The sweep, the scheduler and the naive baseline on one loaded engine."""
    from bench.strategies import Packing, run_limit, run_naive, run_scheduler, warm_engine

    warm_engine(engine, options, Packing(*SWEEP[0]))
    tokens = [engine.encode(list(job)) for job in workload.jobs]
    jobs, segments = len(workload.jobs), workload.segments
    sweep = list(SWEEP)
    suggest = getattr(engine.inner, "suggest_token_budget", None)
    if str(getattr(engine.inner, "device", "")).startswith("cuda") and suggest is not None:
        auto = int(suggest(SWEEP[0][0], options))
        notes.append(f"{label}: the worker's memory-sized token budget would be {auto}")
        if all(auto != budget for budget, _ in sweep):
            sweep.append((auto, 1024))
    limits: list[tuple[Any, Packing]] = []
    for budget, cap in sweep:
        packing = Packing(budget, cap)

        def limit(packing: Packing = packing) -> Any:
            return run_limit(engine.generate, tokens, options, packing)

        result = clock.measure(label, f"limit {budget}/{cap}", engine, probe, limit, jobs,
                               segments)
        if result is not None:
            limits.append((result, packing))
    chosen = [Packing(*SWEEP[0])]
    if limits:
        best = max(limits, key=lambda item: item[0].segments_per_s)[1]
        if best != chosen[0]:
            chosen.append(best)
    for packing in chosen:

        def scheduler(packing: Packing = packing) -> Any:
            return run_scheduler(engine, tokens, options, packing.settings())

        clock.measure(label, f"scheduler {packing.token_budget}/{packing.max_batch_segments}",
                      engine, probe, scheduler, jobs, segments)
    few = tokens[:naive_jobs]
    clock.measure(label, f"naive (first {len(few)} jobs)", engine, probe,
                  lambda: run_naive(engine.generate, few, options, 32),
                  len(few), sum(len(job) for job in few))


def _ratios(results: Sequence[Any]) -> str:
    """Scheduler vs limit at the same packing, best vs naive, bf16 vs fp32."""
    lines = []
    by_model: dict[str, dict[str, Any]] = {}
    for result in results:
        by_model.setdefault(result.model, {})[result.strategy] = result
    best_rates = {}
    for model, rows in by_model.items():
        limits = {k.split(" ", 1)[1]: v for k, v in rows.items() if k.startswith("limit ")}
        scheds = {k.split(" ", 1)[1]: v for k, v in rows.items() if k.startswith("scheduler ")}
        naive = next((v for k, v in rows.items() if k.startswith("naive")), None)
        for packing, sched in scheds.items():
            if packing in limits:
                ratio = sched.segments_per_s / limits[packing].segments_per_s
                lines.append(f"{model}: scheduler / limit at {packing}: {ratio:.2f}x "
                             f"(target >= 0.95); padding waste {100 * sched.padding_waste:.1f}%")
        if limits:
            best_key, best = max(limits.items(), key=lambda kv: kv[1].segments_per_s)
            best_rates[model] = best.segments_per_s
            lines.append(f"{model}: best limit {best_key}: {best.segments_per_s:.1f} seg/s, "
                         f"{best.generated_tokens_per_s:,.0f} generated tok/s")
            mtq = max(scheds.values(), key=lambda r: r.segments_per_s, default=None)
            if naive is not None and mtq is not None:
                ratio = mtq.segments_per_s / naive.segments_per_s
                lines.append(f"{model}: scheduler / naive: {ratio:.1f}x (target >= 10 on GPU)")
    fp32 = next((v for k, v in best_rates.items() if k.endswith("fp32")), None)
    bf16 = next((v for k, v in best_rates.items() if k.endswith("bf16")), None)
    if fp32 and bf16:
        lines.append(f"bf16 / fp32 (best limit each): {bf16 / fp32:.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
