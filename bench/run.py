"""Run the benchmark suite and print the table: ``python -m bench`` (``--quick`` for a short run).

For each model (the tiny model, then the opus-mt-en-de-shaped one) and each job mix (many
1-3-segment jobs; a few jobs of hundreds of segments), every strategy translates the same
segments with the same decode options (beam 4, a bounded ``max_new_tokens`` that every
segment reaches, see :mod:`bench.models`). The strategies are in :mod:`bench.strategies`
(in-process) and :mod:`bench.e2e` (through RabbitMQ, the worker and the dispatcher).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import report
from bench.measure import MemoryProbe, RecordingEngine, RunResult
from bench.models import OPUS_MT_EN_DE, TINY_SHAPE, build_opus_shaped, build_tiny, fix_output_length
from bench.strategies import Packing, Timing, run_fixed, run_limit, run_naive, run_scheduler
from bench.workload import MIXES, Workload, make_workload
from mtq.contract import DecodeOptions
from mtq.settings import Settings

log = logging.getLogger("bench")

STRATEGIES = ("limit", "scheduler", "e2e", "naive", "fixed")
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
    prefetch: int = Settings().prefetch
    threads: int = 1
    device: str = "auto"
    webhooks: str = "auto"
    profile_dir: Path | None = None
    seed: int = 2024


FULL_PLANS = {
    "tiny": ModelPlan("tiny", segments=1000, max_new_tokens=32, large_job_size=200),
    "opus": ModelPlan("opus", segments=200, max_new_tokens=16, large_job_size=100),
}
QUICK_PLANS = {
    "tiny": ModelPlan("tiny", segments=60, max_new_tokens=8, large_job_size=30),
    "opus": ModelPlan("opus", segments=12, max_new_tokens=4, large_job_size=6),
}


def run_suite(
    config: SuiteConfig, work_dir: Path, progress: Callable[[str], None] = print
) -> list[RunResult]:
    """Every (model, mix, strategy) of ``config``; returns one result per row."""
    import torch

    from worker.engine import HFEngine

    torch.set_num_threads(config.threads)
    results: list[RunResult] = []
    tiny_path: Path | None = None
    for plan in config.models:
        started = time.monotonic()
        if tiny_path is None:
            tiny_path = build_tiny(work_dir / "models")
        if plan.name == "tiny":
            path = tiny_path
        else:
            path = build_opus_shaped(work_dir / "models", tokenizer_from=tiny_path)
        fix_output_length(path, plan.max_new_tokens)
        settings = Settings(
            model=str(path), device=config.device, prefetch=config.prefetch,
            batch_tokens=config.packing.token_budget,
            max_batch_segments=config.packing.max_batch_segments,
            batch_max_wait_ms=round(config.packing.max_wait_s * 1000),
        )
        engine = RecordingEngine(HFEngine(settings))
        device = str(getattr(engine.inner, "device", "cpu"))
        probe = MemoryProbe(cuda=device.startswith("cuda"))
        options = DecodeOptions(config.beam_size, plan.max_new_tokens)
        label = MODEL_LABELS.get(plan.name, plan.name)
        progress(f"[{label}] built and loaded in {time.monotonic() - started:.1f} s ({device})")
        _warm(engine, options, config.packing, config.seed)
        for mix in config.mixes:
            workload = make_workload(
                mix, plan.segments, large_job_size=plan.large_job_size, seed=config.seed
            )
            tokens = [engine.encode(list(job)) for job in workload.jobs]
            progress(f"[{label}/{mix}] {workload.describe()}")
            for strategy in config.strategies:
                result = _run_one(
                    strategy, label, workload, tokens, engine, options, config, settings,
                    probe, work_dir,
                )
                if result is None:
                    continue
                results.append(result)
                progress(
                    f"[{label}/{mix}] {strategy:9s} {result.segments_per_s:8.1f} seg/s  "
                    f"{result.wall_s:7.2f} s  pad {100 * result.padding_waste:4.1f}%  "
                    f"busy {100 * result.engine_busy:3.0f}%"
                    + (f"  ({'; '.join(result.notes)})" if result.notes else "")
                )
        del engine
    return results


def _warm(engine: RecordingEngine, options: DecodeOptions, packing: Packing, seed: int) -> None:
    """One full-size batch first, so no strategy pays for allocator growth or lazy init."""
    engine.warmup(options)
    workload = make_workload("small", packing.max_batch_segments, seed=seed + 99)
    sources = [ids for job in workload.jobs for ids in engine.encode(list(job))]
    sources.sort(key=len)
    budgeted = [s for n, s in enumerate(sources) if (n + 1) * len(s) * options.beam_size
                <= packing.token_budget]
    engine.generate(budgeted or sources[:1], options)
    engine.reset()


def _run_one(
    strategy: str, model: str, workload: Workload, tokens: list[list[list[int]]],
    engine: RecordingEngine, options: DecodeOptions, config: SuiteConfig, settings: Settings,
    probe: MemoryProbe, work_dir: Path,
) -> RunResult | None:
    from bench.profiling import PySpy, summarize

    notes: list[str] = []
    extra: dict[str, Any] = {}
    profiler = None
    if config.profile_dir is not None:
        profiler = PySpy(config.profile_dir / f"{model}-{workload.mix}-{strategy}.txt")
    engine.reset()
    probe.reset()
    timing: Timing
    if profiler is not None:
        profiler.__enter__()
    try:
        if strategy == "limit":
            timing = run_limit(engine.generate, tokens, options, config.packing)
        elif strategy == "scheduler":
            timing = run_scheduler(engine, tokens, options, config.packing)
        elif strategy == "naive":
            timing = run_naive(engine.generate, tokens, options, config.fixed_batch)
        elif strategy == "fixed":
            timing = run_fixed(engine.generate, tokens, options, config.fixed_batch)
        elif strategy == "e2e":
            from bench.e2e import BrokerUnavailable, run_end_to_end

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
            notes.append(f"timed to {e2e.sink}; prefetch {settings.prefetch}")
            extra["publish_s"] = round(e2e.publish_s, 3)
            extra["duplicates"] = e2e.duplicates
            if e2e.dispatcher_peak_rss_bytes:
                extra["dispatcher_peak_rss_mib"] = round(e2e.dispatcher_peak_rss_bytes / 2**20, 1)
        else:
            raise ValueError(f"unknown strategy {strategy!r}")
    finally:
        if profiler is not None:
            profiler.__exit__(None, None, None)
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


# -- command line ------------------------------------------------------------------------------


def _csv(choices: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(item.strip() for item in text.split(",") if item.strip())
        unknown = [item for item in items if item not in choices]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}")
        return items

    return parse


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--models", type=_csv(MODELS), help="tiny,opus (default: both)")
    parser.add_argument("--mixes", type=_csv(MIXES), default=MIXES, help="small,large")
    parser.add_argument("--strategies", type=_csv(STRATEGIES), default=STRATEGIES,
                        help=",".join(STRATEGIES))
    parser.add_argument("--tiny-segments", type=int, help="segments per mix, tiny model")
    parser.add_argument("--opus-segments", type=int, help="segments per mix, opus-shaped model")
    parser.add_argument("--tiny-max-new-tokens", type=int)
    parser.add_argument("--opus-max-new-tokens", type=int)
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--batch-tokens", type=int, default=defaults.batch_tokens,
                        help="token budget (MTQ_BATCH_TOKENS) for limit, scheduler and e2e")
    parser.add_argument("--max-batch-segments", type=int, default=defaults.max_batch_segments)
    parser.add_argument("--batch-max-wait-ms", type=int, default=defaults.batch_max_wait_ms)
    parser.add_argument("--prefetch", type=int, default=defaults.prefetch,
                        help="worker prefetch in the end-to-end run (MTQ_PREFETCH)")
    parser.add_argument("--fixed-batch", type=int, default=32,
                        help="batch size of the fixed and naive strategies")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1 keeps a shared 2-core machine usable)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--webhooks", choices=("auto", "on", "off"), default="auto",
                        help="end-to-end through the dispatcher to a loopback receiver "
                        "(auto: when webhooks/cli.py exists)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record a py-spy profile of every run into DIR")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--markdown", type=Path, help="write the tables as Markdown")
    parser.add_argument("--work-dir", type=Path, help="where models are built (default: temp)")
    return parser


def config_from_args(args: argparse.Namespace) -> SuiteConfig:
    plans = QUICK_PLANS if args.quick else FULL_PLANS
    names = args.models or (("tiny",) if args.quick else MODELS)
    chosen = []
    for name in names:
        plan = plans[name]
        segments = args.tiny_segments if name == "tiny" else args.opus_segments
        max_new = args.tiny_max_new_tokens if name == "tiny" else args.opus_max_new_tokens
        chosen.append(replace(
            plan,
            segments=segments or plan.segments,
            max_new_tokens=max_new or plan.max_new_tokens,
            large_job_size=min(plan.large_job_size, segments or plan.segments),
        ))
    return SuiteConfig(
        models=tuple(chosen),
        mixes=args.mixes,
        strategies=args.strategies,
        beam_size=args.beam_size,
        packing=Packing(args.batch_tokens, args.max_batch_segments, args.batch_max_wait_ms / 1000),
        fixed_batch=args.fixed_batch,
        prefetch=args.prefetch,
        threads=args.threads,
        device=args.device,
        webhooks=args.webhooks,
        profile_dir=args.profile,
    )


def header(config: SuiteConfig, machine: dict[str, Any], rabbitmq: str | None) -> list[str]:
    shapes = {"tiny": TINY_SHAPE, "opus": OPUS_MT_EN_DE}
    lines = [
        "machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
        f"rabbitmq: {rabbitmq or 'not available'}",
        f"decode: beam {config.beam_size}, every segment generates exactly max_new_tokens "
        "(EOS suppressed until the last step)",
        f"packing: token budget {config.packing.token_budget} (segments x longest x beam), "
        f"at most {config.packing.max_batch_segments} segments, wait "
        f"{config.packing.max_wait_s * 1000:.0f} ms; fixed/naive batch {config.fixed_batch}; "
        f"e2e prefetch {config.prefetch}",
    ]
    for plan in config.models:
        lines.append(
            f"model {MODEL_LABELS[plan.name]}: {shapes[plan.name].describe()}; "
            f"{plan.segments} segments per mix, max_new_tokens {plan.max_new_tokens}, "
            f"large jobs of ~{plan.large_job_size}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("mtq", "worker", "webhooks", "aio_pika", "aiormq", "pika", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = config_from_args(args)
    from bench.machine import describe, load_average, rabbitmq_version

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.monotonic()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="mtq-bench-") as scratch:
        work_dir = args.work_dir or Path(scratch)
        results = run_suite(config, work_dir, progress)
    elapsed = time.monotonic() - started
    import torch

    device = "cuda" if config.device != "cpu" and torch.cuda.is_available() else "cpu"
    machine = describe(device)
    machine["load_average"] = f"{load_before} (start) / {load_average()} (end)"
    lines = header(config, machine, rabbitmq_version() if "e2e" in config.strategies else None)
    found = report.ratios(results, gpu=device == "cuda")
    print("\n".join(lines))
    print(f"suite wall time: {elapsed:.0f} s\n")
    print(report.text_table(results))
    print()
    print(report.text_ratios(found))
    notes = sorted({note for r in results for note in r.notes})
    if notes:
        print("\nnotes:\n" + "\n".join(f"- {note}" for note in notes))
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine, "config": _jsonable(asdict(config)), "wall_s": round(elapsed, 1),
            "results": [r.as_dict() for r in results],
        }, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(
            "\n".join(f"- {line}" for line in lines) + f"\n- suite wall time: {elapsed:.0f} s\n\n"
            + report.markdown_table(results) + "\n\n" + report.markdown_ratios(found) + "\n"
        )
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


if __name__ == "__main__":
    sys.exit(main())
