"""``python -m bench contention``: the probe batch under each torch thread count, beside a busy
process.

Why the HF engine checks its start-up threading again under traffic
(worker/engines/cpu/live_check.py): on a quiet machine more intra-op threads win the probe, but a
process busy on the same cores (the broker, a dispatcher, another pod without a CPU limit)
stalls OpenMP's threads, and then fewer threads win. For each share of a core the neighbour
keeps busy, the tiny model's start-up probe batch (worker/engines/probe.py, the same call the
worker makes) is timed under each candidate thread count, interleaved, best of three runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SLICE_S = 0.002  # the neighbour works and sleeps in slices this long


def burn(stop: Any, share: float) -> None:
    """Keep one core busy ``share`` of the time until ``stop`` is set."""
    while not stop.is_set():
        began = time.perf_counter()
        while time.perf_counter() - began < SLICE_S:
            pass
        time.sleep(SLICE_S * (1 - share) / share)


def measure(shares: Sequence[float], rounds: int, work_dir: Path) -> dict[float, dict[int, float]]:
    import torch

    from bench.models import build_tiny
    from mtq.core.cpus import usable_cpus
    from mtq.core.settings import Settings
    from worker.engines.cpu.tuning import torch_candidates
    from worker.engines.hf import HFEngine
    from worker.engines.probe import probe_batch, time_probe

    settings = Settings(model=str(build_tiny(work_dir / "tiny")), torch_threads=1)
    engine = HFEngine(settings)
    probe = probe_batch(engine.encode, settings, beam_size=4)
    counts = [t.intra for t in torch_candidates(usable_cpus())]
    context = multiprocessing.get_context("spawn")
    best: dict[float, dict[int, float]] = {}
    for share in shares:
        for _ in range(rounds):
            for count in counts:
                torch.set_num_threads(count)
                stop = context.Event()
                neighbour = None
                if share > 0:
                    neighbour = context.Process(target=burn, args=(stop, share), daemon=True)
                    neighbour.start()
                    time.sleep(0.2)
                seconds = time_probe(engine.generate, probe, 2, repeats=3)
                stop.set()
                if neighbour is not None:
                    neighbour.join()
                row = best.setdefault(share, {})
                row[count] = min(row.get(count, seconds), seconds)
    return best


def markdown(best: dict[float, dict[int, float]]) -> str:
    counts = sorted({count for row in best.values() for count in row})
    header = "| another process busy | " + " | ".join(f"{n} thread(s) s" for n in counts) + " |"
    lines = [header, "|---|" + "---|" * len(counts)]
    for share, row in best.items():
        label = "none" if share == 0 else f"{100 * share:.0f}% of a core"
        lines.append(f"| {label} | " + " | ".join(f"{row[n]:.3f}" for n in counts) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench contention", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shares", default="0,0.3,0.6,1.0",
                        help="shares of a core the neighbour keeps busy, comma separated")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    from bench import logs

    logs.configure()
    shares = [float(s) for s in args.shares.split(",") if s]
    if any(not 0 <= s <= 1 for s in shares):
        raise SystemExit("--shares: each share must be between 0 and 1")
    with tempfile.TemporaryDirectory(prefix="mtq-bench-contention-") as scratch:
        best = measure(shares, args.rounds, Path(scratch))
    print("the start-up probe batch (tiny model, beam 4), best time per thread count\n")
    print(markdown(best))
    return 0


if __name__ == "__main__":
    sys.exit(main())
