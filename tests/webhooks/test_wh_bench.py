"""The delivery benchmark runs end to end (one short row) and reports what it measured."""

from __future__ import annotations

from bench.delivery import Scenario, markdown, run_rows


def test_delivery_bench_quick_row() -> None:
    [row] = run_rows([Scenario(events=30, delay_ms=50, ceiling=4)])
    assert row.deferred == 0 and row.retried == 0
    assert 1 <= row.connections <= 2 * 4  # the window's connections, kept alive
    assert row.webhooks_per_s > 0 and row.p95_s >= row.p50_s
    assert "ceiling ÷ latency" in markdown([row])
