"""The suite's command line: ``python -m bench [options]`` (the default subcommand)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench import report, suite
from bench.models import OPUS_MT_EN_DE, TINY_SHAPE
from bench.strategies import Packing
from bench.suite import (
    FULL_PLANS,
    MODEL_LABELS,
    MODELS,
    QUICK_PLANS,
    STRATEGIES,
    SuiteConfig,
    run_suite,
)
from bench.workload import MIXES
from mtq.core.settings import Settings


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
        prog="python -m bench", description=suite.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="other benchmarks: python -m bench ct2 --help, python -m bench gpu --help",
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
    from bench import logs

    logs.configure()
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

