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
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import report
from bench.cpu import CpuAccount
from bench.measure import MemoryProbe, RecordingEngine, RunResult
from bench.models import OPUS_MT_EN_DE, TINY_SHAPE, build_opus_shaped, build_tiny, fix_output_length
from bench.strategies import (
    Packing,
    Timing,
    run_fixed,
    run_limit,
    run_naive,
    run_scheduler,
    warm_engine,
)
from bench.workload import MIXES, Workload, make_workload
from mtq.contract import DecodeOptions
from mtq.settings import Settings

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
    prefetch: int = Settings().prefetch
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
        settings = Settings(
            model=str(path), device=config.device, prefetch=config.prefetch,
            batch_tokens=config.packing.token_budget,
            max_batch_segments=config.packing.max_batch_segments,
            batch_max_wait_ms=round(config.packing.max_wait_s * 1000),
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
                result = _run_one(
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
                    again = _run_one(
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
            timing = run_scheduler(engine, tokens, options, config.packing)
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
    parser.add_argument("--tuned-prefetch", type=int, default=256,
                        help="worker prefetch of the e2e-tuned run")
    parser.add_argument("--tuned-dispatcher-prefetch", type=int, default=256,
                        help="dispatcher prefetch of the e2e-tuned run (MTQ_DISPATCHER_PREFETCH)")
    parser.add_argument("--fixed-batch", type=int, default=32,
                        help="batch size of the fixed and naive strategies")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1 keeps a shared 2-core machine usable)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--webhooks", choices=("auto", "on", "off"), default="auto",
                        help="end-to-end through the dispatcher to a loopback receiver "
                        "(auto: when webhooks/cli.py exists)")
    parser.add_argument("--rerun-noisy", type=float, default=0.5, metavar="CORES",
                        help="re-run a row once if other processes used more than CORES "
                        "meanwhile, keep the quieter run (0 disables)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record a py-spy profile of every run into DIR")
    parser.add_argument("--profile-gil", action="store_true",
                        help="with --profile: sample only the thread holding the GIL")
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
        tuned_prefetch=args.tuned_prefetch,
        tuned_dispatcher_prefetch=args.tuned_dispatcher_prefetch,
        threads=args.threads,
        device=args.device,
        webhooks=args.webhooks,
        profile_dir=args.profile,
        profile_gil=args.profile_gil,
        rerun_when_others_above=args.rerun_noisy or None,
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
        f"e2e: worker prefetch {config.prefetch}, dispatcher prefetch "
        f"{Settings().dispatcher_prefetch} (defaults); e2e-tuned: {config.tuned_prefetch} and "
        f"{config.tuned_dispatcher_prefetch}",
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
    # The engine's short warm-up asks for fewer tokens than the forced output length.
    warnings.filterwarnings("ignore", message="Unfeasible length constraints")
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
    machine["torch_threads"] = config.threads
    machine["load_average"] = f"{load_before} (start) / {load_average()} (end)"
    broker = any(s.startswith("e2e") for s in config.strategies)
    lines = header(config, machine, rabbitmq_version() if broker else None)
    found = report.ratios(results, gpu=device == "cuda")
    print("\n".join(lines))
    print(f"suite wall time: {elapsed:.0f} s\n")
    print(report.text_table(results))
    print()
    print(report.text_ratios(found))
    cpu = report.text_cpu(results)
    if cpu:
        print("\n" + cpu)
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
            + report.markdown_table(results) + "\n\n" + report.markdown_ratios(found) + "\n\n"
            + report.markdown_cpu(results) + "\n"
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
