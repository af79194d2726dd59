"""``python -m bench terms`` runs and prints its table (a few sentences, HF only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.terms import main


def test_the_terms_bench_prints_its_table(tiny_model_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(tiny_model_path), "--engines", "hf", "--sentences", "6"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| hf")]
    assert [row.split("|")[2].strip() for row in rows] == ["mask", "inline", "replace"]
    assert all("| 100.0% |" in row for row in rows)  # recall and report accuracy


def test_the_trained_workload_changes_the_reference_exactly_at_the_terms() -> None:
    from bench.terms_workload import split, trained

    workload = trained(40)
    assert workload.references and workload.term_references and workload.slots
    assert sum(e.keep for e in workload.entries) == 10 and len(workload.entries) == 40
    assert sum(map(len, workload.slots)) > 10
    for plain, with_terms, slots in zip(workload.references, workload.term_references,
                                        workload.slots, strict=True):
        before, after = split(plain), split(with_terms)
        assert len(before) == len(after) and before[-1] in ".?"
        changed = {k for k, (a, b) in enumerate(zip(before, after, strict=True)) if a != b}
        assert changed == {k for k, _ in slots}
        assert all(after[k] == target for k, target in slots)


def test_the_terms_bench_runs_on_the_trained_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", "trained", "--engines", "hf", "--sentences", "12"]) == 0
    out = capsys.readouterr().out
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| hf")]
    assert [row[2].strip() for row in rows] == ["mask", "inline", "replace"]
    for row in rows:
        assert int(row[3]) > 0 and row[4].strip() == row[7].strip() == "100.0%"
        assert "→" in row[8] and row[10].strip().endswith("%")  # exact match, placement
