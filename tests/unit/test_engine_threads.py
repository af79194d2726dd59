"""CPU thread sizing for the HF engine."""

from __future__ import annotations

from worker.engine import available_cpus, cpu_threads


def test_configured_threads_win() -> None:
    assert cpu_threads(3) == 3


def test_default_leaves_a_core_for_the_event_loop() -> None:
    assert cpu_threads(0) == max(1, available_cpus() - 1)
    assert available_cpus() >= 1
