"""``python -m bench terms`` runs and prints its table (a few sentences, HF only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.terms import main


def test_the_terms_bench_prints_its_table(tiny_model_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(tiny_model_path), "--engines", "hf", "--sentences", "6"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| hf")]
    assert [row.split("|")[2].strip() for row in rows] == ["mask", "inline"]
    assert all("| 100.0% |" in row for row in rows)  # recall and report accuracy
