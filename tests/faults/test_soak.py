"""A short soak in CI: kills, a connection drop and a flaky endpoint, and nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.soak import SoakConfig, run_soak

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fault]


def test_short_soak_loses_nothing(tiny_model_path: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_soak(
        SoakConfig(jobs=60, rate=10, kills=2, drops=1, fail_rate=0.3, prefetch=6,
                   model=tiny_model_path, timeout_s=180, log_dir=tmp_path, fault_gap_s=12),
        out=lines.append,
    )
    assert result.lost == 0, lines
    assert result.published == 60
    assert result.completed == 60
    assert result.kills == 2 and result.drops == 1, lines
    assert result.endpoint_failures > 0
    assert result.parked == 0 and result.dead_lettered == 0 and result.bad_signatures == 0
    assert lines[-1].startswith("soak: published=60 completed=60 lost=0 ")
