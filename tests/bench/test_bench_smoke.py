"""Smoke tests of the benchmark suite (bench/): every row is produced and holds sane numbers.

No timing assertions: these only check that the strategies run through the real engine,
scheduler and worker, and that the table is complete.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report
from bench.strategies import Packing
from bench.suite import IN_PROCESS, ModelPlan, SuiteConfig, run_suite
from bench.workload import MIXES

pytestmark = pytest.mark.filterwarnings("ignore:Unfeasible length constraints")

MAX_NEW_TOKENS = 4


def _config(strategies: tuple[str, ...]) -> SuiteConfig:
    return SuiteConfig(
        models=(ModelPlan("tiny", segments=9, max_new_tokens=MAX_NEW_TOKENS, large_job_size=5),),
        strategies=strategies,
        # A small budget so the handful of segments still makes several batches.
        packing=Packing(token_budget=256, max_batch_segments=4, max_wait_s=0.005),
        fixed_batch=3,
        prefetch=4,
        rerun_when_others_above=None,
    )


def test_in_process_strategies_fill_every_row(tiny_model_path: Path, tmp_path: Path) -> None:
    results = run_suite(_config(IN_PROCESS), tmp_path, lambda line: None, tiny_model_path)

    rows = {(r.mix, r.strategy): r for r in results}
    assert set(rows) == {(mix, strategy) for mix in MIXES for strategy in IN_PROCESS}
    for result in results:
        assert result.segments == 9
        assert result.segments_per_s > 0
        # Every segment generates exactly max_new_tokens, whatever batch it is in.
        assert result.generated_tokens == 9 * MAX_NEW_TOKENS
        assert result.generated_tokens_per_s > 0
        assert 0 <= result.padding_waste < 1
        assert len(result.job_latencies_s) == result.jobs
        assert result.p50_s > 0 and result.p95_s >= result.p50_s
        assert result.peak_rss_bytes > 0
        assert sum(b.segments for b in result.batches) == 9
    assert rows[("small", "naive")].mean_batch <= 3  # one 1-3-segment job per batch

    table = report.text_table(results)
    for strategy in IN_PROCESS:
        assert table.count(report.STRATEGY_LABELS[strategy]) == len(MIXES)
    names = {ratio.name for ratio in report.ratios(results)}
    assert {"in-process / limit", "in-process / naive", "in-process padding waste"} <= names


@pytest.mark.integration
def test_end_to_end_row_through_the_broker(tiny_model_path: Path, tmp_path: Path) -> None:
    """The e2e strategy: private vhost, worker, dispatcher (when it exists), receiver."""
    config = _config(("e2e",))
    config = SuiteConfig(**{**config.__dict__, "mixes": ("small",)})
    results = run_suite(config, tmp_path, lambda line: None, tiny_model_path)

    (result,) = results
    assert result.strategy == "e2e"
    assert len(result.job_latencies_s) == result.jobs
    assert result.segments_per_s > 0
    assert result.generated_tokens == 9 * MAX_NEW_TOKENS
    assert result.extra["cpu_s"]
