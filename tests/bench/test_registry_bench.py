"""``python -m bench registry`` at a small scale, so the benchmark cannot rot: every run goes
through a real tracking server, worker and broker, and its checks come out clean. No timing
is asserted."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="needs pip install 'mtq[registry]'")

from bench.registry.cli import parse, run
from bench.registry.scenarios import CanaryRun, Rollover, ShadowRun

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:Unfeasible length constraints")]
JOBS = 12


def test_every_run_on_a_few_jobs(tmp_path: Path) -> None:
    args = parse(["--jobs", str(JOBS), "--sentences", "12", "--canary", "0.5",
                  "--shadow", "0.5", "--poll", "0.2"])
    lines: list[str] = []
    rollover, canary, shadow = run(args, tmp_path, lines.append)
    assert isinstance(rollover, Rollover) and isinstance(canary, CanaryRun)
    assert isinstance(shadow, ShadowRun)
    assert shadow.paced is not None
    for checked in (rollover.checked, canary.checked, *shadow.saturated.checked,
                    *shadow.paced.checked):
        assert (checked.published, checked.lost, checked.failed, checked.mixed) == (JOBS, 0, 0, 0)
    assert not math.isnan(rollover.move_to_switch_s) and rollover.resident_after == 1
    assert canary.misrouted == 0 and canary.measured == canary.by_hash
    for pair in (shadow.saturated, shadow.paced):  # every offered job compared or dropped
        metrics = pair.metrics
        assert metrics["mtq_shadow_jobs_total"] + metrics["mtq_shadow_dropped_total"] \
            == shadow.offered
    text = "\n".join(lines)
    assert "alias move → switch" in text and "measured share" in text and "with / without" in text
