"""``python -m bench multilingual`` runs and reports both setups on the same traffic."""

from __future__ import annotations

from pathlib import Path

from bench.cli import COMMANDS
from bench.multilingual import markdown, run_rows, workload
from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings


def test_the_workload_spreads_small_jobs_over_the_pairs() -> None:
    jobs = workload(30, rate=10.0, pairs=("en-de", "en-fr", "de-fr"), seed=1)
    assert {job.pair for job in jobs} == {"en-de", "en-fr", "de-fr"}
    assert all(1 <= len(job.segments) <= 3 for job in jobs)
    assert [job.arrival for job in jobs] == sorted(job.arrival for job in jobs)


def test_both_setups_serve_the_same_traffic(multilingual_models: dict[str, Path]) -> None:
    assert COMMANDS["multilingual"] == "bench.multilingual"
    pairs = ("en-de", "en-fr", "de-fr")
    rows = run_rows(multilingual_models["nllb"], 12, 20.0, pairs, 1,
                    Settings(device="cpu", dtype="float32", torch_threads=1),
                    DecodeOptions(2, 4))
    one, per_pair = rows
    assert (one.workers, per_pair.workers) == (1, 3)
    assert one.segments == per_pair.segments > 0
    assert one.batches >= 1 and per_pair.batches >= 3
    assert "one worker per pair" in markdown(rows, pairs, 20.0, "tiny-nllb")
