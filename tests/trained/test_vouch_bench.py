"""The trained-model rows of ``python -m bench vouch``: the AUROC arithmetic and a small run."""

from __future__ import annotations

import pytest

from bench.vouch_trained import auroc, damaged_sets, run
from mtq.tools.synth_pair import dictionary
from worker.engines.hf import HFEngine


def test_auroc_counts_pairs_ranked_right() -> None:
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5, 0.5], [0.5]) == 0.5  # ties count half
    assert auroc([0.9, 0.3], [0.5, 0.1]) == 0.75  # 3 of 4 pairs in order


def test_damaged_sets_have_no_reference_and_differ_from_the_held_out() -> None:
    sets = damaged_sets(10)
    held = sets["held-out"]
    assert all(case.reference for case in held)
    for name in ("unknown word", "cut off", "other language"):
        assert len(sets[name]) == 10
        assert all(case.reference is None for case in sets[name])
    known = set(dictionary())
    for case in sets["unknown word"]:  # exactly one word the pair does not know
        assert len([w for w in case.source[:-1].split() if w not in known]) == 1
    for case in sets["cut off"]:  # no final mark, words missing
        assert case.source[-1] not in ".?"


def test_the_rows_run_on_the_trained_model(trained_hf: HFEngine,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run(trained_hf, 6)
    out = capsys.readouterr().out
    assert "AUROC, right vs wrong over all sets: " in out
    assert "| held-out | 6 | 6 |" in out  # the model translates its held-out sentences
    assert "| held-out, token cap ⅔ of the reference | 6 | 100.0% |" in out
