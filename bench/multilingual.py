"""Mixed-pair small jobs: one multilingual worker vs one worker per pair, same total traffic.

``python -m bench multilingual``. Small jobs (1-3 segments) of several language pairs arrive
at a steady rate (Poisson, fixed seed). Setup A is one worker on one multilingual model (the
tiny NLLB-shaped model, or ``--model``) serving every pair: one scheduler, segments of
different pairs share micro-batches, each with its own target-language prefix. Setup B is one
worker per pair on the same model, each seeing only its pair's share of the same traffic.

Each worker is the production scheduler (``Scheduler.from_settings``) driven by a virtual
clock: arrivals are added at their time, a batch is formed when the scheduler says one is due,
and it runs on the real engine, the clock advancing by the measured ``generate`` time (a
worker's device is busy for exactly that long). Reported per setup: workers (GPUs), batches,
mean segments per batch (batch fill), padding share of the batches' token slots, segments per
busy device-second and per worker-second of the whole run (what a GPU pool pays for), and job
latency p50/p95 in virtual seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):  # `python bench/multilingual.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from mtq.tools.tiny_corpus import generated_sentences
from mtq.tools.tiny_model import build_tiny_model
from worker.batching.items import WorkItem
from worker.batching.scheduler import Scheduler
from worker.engines.hf import HFEngine

PAIRS = ("en-de", "en-fr", "de-fr", "en-es", "fr-es", "en-zh")
CODES = {"en": "en", "de": "de", "fr": "fr", "es": "es", "zh": "zh"}


@dataclass(frozen=True)
class Job:
    arrival: float
    pair: str
    segments: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    setup: str
    workers: int
    jobs: int
    segments: int
    batches: int
    fill: float  # mean segments per batch
    padding: float  # share of the batches' token slots that is padding
    busy_s: float
    span_s: float
    seg_per_busy_s: float
    seg_per_worker_s: float
    p50_s: float
    p95_s: float


def workload(jobs: int, rate: float, pairs: Sequence[str], seed: int) -> list[Job]:
    rng = random.Random(seed)
    texts = list(generated_sentences(4 * jobs, seed))
    t, out = 0.0, []
    for n in range(jobs):
        t += rng.expovariate(rate)
        size = rng.choice((1, 1, 2, 2, 3))
        out.append(Job(t, pairs[n % len(pairs)], tuple(rng.sample(texts, size))))
    return out


Run = tuple[list[tuple[int, int, int]], float, float, list[float]]


def simulate(
    engine: HFEngine, jobs: Sequence[Job], settings: Settings, options: DecodeOptions
) -> Run:
    """One worker over ``jobs``: (segments, longest, real tokens) per batch, busy and end time,
    and each job's latency."""
    scheduler = Scheduler.from_settings(settings)
    encoded = []
    for job in jobs:
        source, target = job.pair.split("-")
        pair = engine.languages.pair(CODES[source], CODES[target])
        assert pair is not None, job.pair
        encoded.append((engine.encode(list(job.segments), pair), pair.target_prefix))
    prefix_of = {n: prefix for n, (_, prefix) in enumerate(encoded)}
    remaining = {n: len(job.segments) for n, job in enumerate(jobs)}
    finished: dict[int, float] = {}
    batches: list[tuple[int, int, int]] = []
    clock, busy, nxt = 0.0, 0.0, 0
    while len(finished) < len(jobs):
        while nxt < len(jobs) and jobs[nxt].arrival <= clock:
            ids = encoded[nxt][0]
            scheduler.add(nxt, options, [WorkItem(i, t) for i, t in enumerate(ids)],
                          jobs[nxt].arrival)
            nxt += 1
        batch = scheduler.next_batch(clock)
        if batch is None:
            wait = scheduler.seconds_until_ready(clock)
            arrival = jobs[nxt].arrival if nxt < len(jobs) else math.inf
            clock = min(arrival, clock + wait) if wait is not None else arrival
            continue
        started = time.perf_counter()
        engine.generate([s.tokens for s in batch.segments], options,
                        prefixes=[prefix_of[int(str(s.job_key))] for s in batch.segments])
        elapsed = time.perf_counter() - started
        clock += elapsed
        busy += elapsed
        batches.append((len(batch.segments), batch.longest, batch.real_tokens))
        for segment in batch.segments:
            key = int(str(segment.job_key))
            remaining[key] -= 1
            if remaining[key] == 0:
                finished[key] = clock - jobs[key].arrival
    return batches, busy, clock, [finished[n] for n in range(len(jobs))]


def row(setup: str, runs: Sequence[Run], jobs: int) -> Row:
    batches = [b for run in runs for b in run[0]]
    latencies = sorted(x for run in runs for x in run[3])
    segments = sum(b[0] for b in batches)
    slots = sum(b[0] * b[1] for b in batches)
    busy = sum(run[1] for run in runs)
    span = max(run[2] for run in runs)
    return Row(
        setup=setup, workers=len(runs), jobs=jobs, segments=segments, batches=len(batches),
        fill=segments / len(batches), padding=1 - sum(b[2] for b in batches) / slots,
        busy_s=busy, span_s=span, seg_per_busy_s=segments / busy,
        seg_per_worker_s=segments / (span * len(runs)),
        p50_s=statistics.median(latencies),
        p95_s=latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
    )


def run_rows(model: Path, jobs: int, rate: float, pairs: Sequence[str], seed: int,
             settings: Settings, options: DecodeOptions) -> list[Row]:
    engine = HFEngine(settings.replace(model=str(model)))
    engine.warmup(options)
    traffic = workload(jobs, rate, pairs, seed)
    one = simulate(engine, traffic, settings, options)
    per_pair = [simulate(engine, [j for j in traffic if j.pair == p], settings, options)
                for p in pairs]
    return [row("one multilingual worker, all pairs", [one], jobs),
            row("one worker per pair", per_pair, jobs)]


def markdown(rows: Sequence[Row], pairs: Sequence[str], rate: float, model: str) -> str:
    head = (f"Mixed-pair small jobs (1-3 segments), {len(pairs)} pairs, {rate:g} jobs/s in "
            f"total, model {model}\n\n")
    cols = ("setup", "workers", "segs", "batches", "segs/batch", "padding", "seg/s busy",
            "seg/s per worker", "p50 s", "p95 s")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append(
            f"| {r.setup} | {r.workers} | {r.segments} | {r.batches} | {r.fill:.1f} | "
            f"{100 * r.padding:.1f}% | {r.seg_per_busy_s:,.1f} | {r.seg_per_worker_s:,.1f} | "
            f"{r.p50_s:.2f} | {r.p95_s:.2f} |"
        )
    return head + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench multilingual", description=__doc__)
    p.add_argument("--model", type=Path, help="a multilingual model folder (default: tiny NLLB)")
    p.add_argument("--jobs", type=int, default=240)
    p.add_argument("--rate", type=float, default=12.0, help="jobs per second, all pairs")
    p.add_argument("--pairs", default=",".join(PAIRS))
    p.add_argument("--max-new-tokens", type=int, default=12)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="60 jobs: a smoke run")
    p.add_argument("--json", type=Path, help="write the rows here as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pairs = tuple(p for p in args.pairs.split(",") if p)
    jobs = 60 if args.quick else args.jobs
    options = DecodeOptions(args.beam, args.max_new_tokens)
    settings = Settings(device="cpu", dtype="float32")
    with tempfile.TemporaryDirectory(prefix="mtq-bench-multilingual-") as scratch:
        model = args.model or build_tiny_model(Path(scratch) / "tiny-nllb", kind="nllb")
        rows = run_rows(model, jobs, args.rate, pairs, args.seed, settings, options)
        name = model.name
    print(markdown(rows, pairs, args.rate, name))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
