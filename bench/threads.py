"""``python -m bench threads``: no thread settings (measured at start) vs each explicit one.

For each engine (HF float32 on torch, CTranslate2 int8) and each job mix (many 1-3-segment
jobs; a few large ones), the same workload runs through mtq end to end (:mod:`bench.e2e`:
publish -> RabbitMQ -> the real worker -> ``mtq.results``) once with no thread settings, where
the worker measures its threading during warm-up (worker/engines/cpu/tuning.py), and once per
explicit setting among the tuner's own candidates for this machine (``MTQ_TORCH_THREADS``;
``MTQ_INTRA_THREADS`` x ``MTQ_INTER_THREADS``). Each round runs every row once, in the same
order, so a burst of load from elsewhere falls on rows alike; a row keeps its best round.
The verdict is the default's rate over the best explicit row's, per engine and mix.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mtq.core.cpus import usable_cpus
from mtq.core.settings import Settings
from worker.engines.cpu.tuning import Threads, ct2_candidates, torch_candidates

log = logging.getLogger("bench.threads")
ENGINES = ("hf", "ctranslate2")
MIXES = ("small", "large")


@dataclass(frozen=True)
class Row:
    engine: str
    threads: Threads | None  # None: no thread settings, the worker measures at start

    @property
    def label(self) -> str:
        if self.threads is None:
            return "default (measured)"
        if self.engine == "hf":
            return f"MTQ_TORCH_THREADS={self.threads.intra}"
        return f"INTRA={self.threads.intra} INTER={self.threads.replicas}"


@dataclass
class Result:
    engine: str
    mix: str
    label: str
    segments: int
    rates: list[float] = field(default_factory=list)  # seg/s per round
    chosen: list[str] = field(default_factory=list)  # default rows: what the worker picked

    @property
    def best(self) -> float:
        return max(self.rates, default=0.0)


def rows_for(engine: str, cpus: int) -> list[Row]:
    candidates = torch_candidates(cpus) if engine == "hf" else ct2_candidates(cpus)
    return [Row(engine, None), *(Row(engine, t) for t in candidates)]


def settings_for(row: Row, hf_path: Path, ct2_path: Path, max_new_tokens: int) -> Settings:
    base = Settings(device="cpu", default_beam_size=4, default_max_new_tokens=max_new_tokens)
    if row.engine == "hf":
        return base.replace(model=str(hf_path), torch_threads=row.threads.intra if row.threads
                            else 0)
    return base.replace(
        model=str(ct2_path), engine="ctranslate2", compute_type="int8",
        intra_threads=row.threads.intra if row.threads else 0,
        inter_threads=row.threads.replicas if row.threads else 0,
    )


def run(
    engines: Sequence[str], mixes: Sequence[str], segments: int, max_new_tokens: int,
    rounds: int, work_dir: Path, progress: Callable[[str], None] = print,
) -> tuple[list[Result], list[str]]:
    """Every (engine, mix, row) ``rounds`` times; returns results and the tuning tables."""
    from bench.ct2.models import build_models
    from bench.workload import make_workload

    hf_path, ct2_path = build_models(work_dir / "models", "tiny", max_new_tokens)
    cpus = usable_cpus()
    tables: list[str] = []
    results: list[Result] = []
    for mix in mixes:
        workload = make_workload(mix, segments, large_job_size=min(200, segments), seed=2024)
        progress(f"[{mix}] {workload.describe()}")
        for engine in engines:
            rows = rows_for(engine, cpus)
            found = {row: Result(engine, mix, row.label, workload.segments) for row in rows}
            for round_index in range(rounds):
                for row in rows:
                    settings = settings_for(row, hf_path, ct2_path, max_new_tokens)
                    rate, tuning = _one_run(settings, workload, max_new_tokens, work_dir)
                    found[row].rates.append(rate)
                    if row.threads is None and tuning is not None:
                        checked = " (checked under traffic)" if tuning.how.startswith(
                            "checked") else ""
                        found[row].chosen.append(tuning.chosen.describe() + checked)
                        tables.append(f"{engine} / {mix} / round {round_index + 1}:\n"
                                      + tuning.table())
                    progress(f"[{mix}/{engine}] round {round_index + 1} {row.label:24s} "
                             f"{rate:8.1f} seg/s")
            results += found.values()
    return results, tables


def _one_run(
    settings: Settings, workload: Any, max_new_tokens: int, work_dir: Path
) -> tuple[float, Any]:
    from bench.e2e import run_end_to_end
    from worker.engines import load_engine

    engine = load_engine(settings)
    try:
        timing = run_end_to_end(
            engine, [list(job) for job in workload.jobs],
            {"beam_size": 4, "max_new_tokens": max_new_tokens}, settings, webhooks="off",
            work_dir=work_dir,
        )
        return workload.segments / timing.wall_s, getattr(engine, "threading", None)
    finally:
        del engine
        gc.collect()


def verdicts(results: Sequence[Result]) -> list[str]:
    lines = []
    for engine in ENGINES:
        for mix in MIXES:
            group = [r for r in results if (r.engine, r.mix) == (engine, mix)]
            default = next((r for r in group if r.label.startswith("default")), None)
            explicit = [r for r in group if r is not default]
            if default is None or not explicit:
                continue
            top = max(explicit, key=lambda r: r.best)
            lines.append(
                f"{engine} / {mix}: default {default.best:.1f} seg/s (chose "
                f"{', '.join(sorted(set(default.chosen))) or '?'}) = "
                f"{default.best / top.best:.2f} x the best explicit ({top.label}, "
                f"{top.best:.1f} seg/s)"
            )
    return lines


def markdown(results: Sequence[Result]) -> str:
    lines = ["| engine | mix | setting | seg/s (best) | rounds | vs best explicit |",
             "|---|---|---|---|---|---|"]
    for result in results:
        group = [r for r in results if (r.engine, r.mix) == (result.engine, result.mix)
                 and not r.label.startswith("default")]
        top = max((r.best for r in group), default=0.0) or 1.0
        chosen = f" → {', '.join(sorted(set(result.chosen)))}" if result.chosen else ""
        rounds = " / ".join(f"{rate:.0f}" for rate in result.rates)
        lines.append(f"| {result.engine} | {result.mix} | {result.label}{chosen} | "
                     f"{result.best:.1f} | {rounds} | {result.best / top:.2f} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench threads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run (checks the script)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="hf,ctranslate2")
    parser.add_argument("--mixes", default=",".join(MIXES), help="small,large")
    parser.add_argument("--segments", type=int, default=600, help="segments per mix")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bench import logs

    logs.configure()
    engines = [e for e in args.engines.split(",") if e]
    mixes = [m for m in args.mixes.split(",") if m]
    if set(engines) - set(ENGINES) or set(mixes) - set(MIXES):
        raise SystemExit(f"choose engines from {ENGINES} and mixes from {MIXES}")
    segments, rounds = (40, 1) if args.quick else (args.segments, args.rounds)
    max_new = 8 if args.quick else args.max_new_tokens
    with tempfile.TemporaryDirectory(prefix="mtq-bench-threads-") as scratch:
        results, tables = run(engines, mixes, segments, max_new, rounds, Path(scratch),
                              lambda line: print(line, file=sys.stderr, flush=True))
    print(f"usable CPUs {usable_cpus()}; {segments} segments per mix, beam 4, "
          f"{max_new} new tokens, {rounds} round(s), timed to mtq.results\n")
    print(markdown(results) + "\n\n" + "\n".join(verdicts(results)))
    print("\nthe workers' start-up measurements (engine alone, probe batch):\n"
          + "\n\n".join(tables))
    if args.markdown:
        args.markdown.write_text(markdown(results) + "\n\n" + "\n".join(
            f"- {line}" for line in verdicts(results)) + "\n")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0
