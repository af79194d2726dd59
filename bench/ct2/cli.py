"""``python -m bench ct2``: CTranslate2 vs HF on this machine's CPU, one table.

The GPU rows of the comparison are ``python -m bench gpu --ct2`` (``bash bench/gpu.sh --ct2``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench.ct2.config import FULL, QUICK, Ct2Config
from bench.ct2.report import header_lines, markdown_table, text_table, verdicts
from bench.ct2.rows import run_cpu


def build_parser() -> argparse.ArgumentParser:
    from bench import ct2

    parser = argparse.ArgumentParser(
        prog="python -m bench ct2", description=ct2.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true",
                        help="the tiny model on a handful of segments (seconds)")
    parser.add_argument("--model", choices=("opus", "tiny"))
    parser.add_argument("--segments", type=int)
    parser.add_argument("--max-new-tokens", type=int)
    parser.add_argument("--mix", choices=("small", "large"), help="job mix (default large)")
    parser.add_argument("--large-job-size", type=int)
    parser.add_argument("--threads", type=int, default=0,
                        help="CT2 intra threads of the one-replica rows (default: all cores, "
                        "the engine's own default)")
    parser.add_argument("--hf-threads", type=int, default=0,
                        help="HF torch threads (default: the worker's, cores - 1)")
    parser.add_argument("--no-hf-all-cores", action="store_true",
                        help="skip the extra HF engine-level row at one thread per core")
    parser.add_argument("--no-e2e", action="store_true", help="engine-level rows only")
    parser.add_argument("--webhooks", choices=("off", "auto"), default="off",
                        help="off: time e2e to mtq.results; auto: through the dispatcher")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown")
    parser.add_argument("--work-dir", type=Path, help="where models are built (default: temp)")
    return parser


def config_from_args(args: argparse.Namespace) -> Ct2Config:
    base = QUICK if args.quick else FULL
    config = replace(
        base, threads=args.threads, hf_threads=args.hf_threads, e2e=not args.no_e2e,
        webhooks=args.webhooks, hf_all_cores_row=not args.no_hf_all_cores,
    )
    for name in ("model", "segments", "max_new_tokens", "mix", "large_job_size"):
        value = getattr(args, name)
        if value is not None:
            config = replace(config, **{name: value})
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", message="Unfeasible length constraints")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    config = config_from_args(args)
    started = time.monotonic()
    from bench.machine import describe, load_average, rabbitmq_version

    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="mtq-bench-ct2-") as scratch:
        results, notes = run_cpu(config, args.work_dir or Path(scratch), progress)
    elapsed = time.monotonic() - started
    machine = describe("cpu")
    machine.pop("torch_threads", None)
    machine["load_average"] = f"{load_before} (start) / {load_average()} (end)"
    header = header_lines(config, machine, rabbitmq_version() if config.e2e else None, elapsed)
    print("\n".join(header) + "\n")
    print(text_table(results) + "\n")
    print("\n".join(verdicts(results)))
    from bench import report

    cpu = report.text_cpu([r for r in results if r.strategy == "e2e"])
    if cpu:
        print("\n" + cpu)
    for note in sorted(set(notes) | {n for r in results for n in r.notes}):
        print(f"note: {note}")
    if args.json:
        args.json.write_text(json.dumps({
            "header": header, "results": [r.as_dict() for r in results], "notes": notes,
        }, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(
            "\n".join(f"- {line}" for line in header) + "\n\n" + markdown_table(results)
            + "\n\n" + "\n".join(f"- {line}" for line in verdicts(results)) + "\n"
        )
    return 0
