"""The cache benchmark's workload: the repetition it claims is the repetition it has."""

from __future__ import annotations

from bench.cache import CacheRow, markdown, repetitive_workload


def test_the_workload_repeats_the_share_asked_for_within_and_across_jobs() -> None:
    workload = repetitive_workload(600, 0.4)
    assert abs(workload.repeat_share - 0.4) < 0.02
    within, across = workload.repeats()
    assert within > 0 and across > 0
    assert within + across == workload.segments - workload.distinct
    assert repetitive_workload(600, 0.4) == workload  # seeded: the same every run
    none = repetitive_workload(300, 0.0)
    assert none.repeat_share == 0.0


def test_the_table_compares_every_mode_with_the_first() -> None:
    workload = repetitive_workload(50, 0.4)
    rows = [
        CacheRow("none", 50, 2.0, 800, 50, 0, 0, 0),
        CacheRow("memory", 50, 1.0, 480, 30, 12, 8, 12),
    ]
    table = markdown(workload, rows)
    assert "| memory | 480 | 30 | 12 | 8 | 50.0 | 0.60 |" in table
    assert table.startswith("workload: ")
