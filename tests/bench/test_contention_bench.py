"""``python -m bench contention``: the real probe under each thread count, a neighbour beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.contention import main, markdown, measure
from mtq.core.cpus import usable_cpus
from worker.engines.cpu.tuning import torch_candidates


def test_every_share_times_every_candidate(tmp_path: Path) -> None:
    best = measure([0.0, 0.5], rounds=1, work_dir=tmp_path)
    counts = {t.intra for t in torch_candidates(usable_cpus())}
    assert set(best) == {0.0, 0.5}
    for row in best.values():
        assert set(row) == counts and all(seconds > 0 for seconds in row.values())
    table = markdown(best)
    assert "| none |" in table and "| 50% of a core |" in table


def test_a_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(SystemExit, match="between 0 and 1"):
        main(["--shares", "0,1.5"])
