"""Token budget sizing from a memory probe (pure arithmetic; the CUDA probe feeds it)."""

from __future__ import annotations

from worker.engines.budget import Probe, budget_from_probe

MiB = 2**20


def test_budget_scales_to_free_memory_with_headroom() -> None:
    # 2048 cost units took 64 MiB: 32 KiB per unit; 10 GiB free at 70% → 229,376 units.
    probe = Probe(cost=2048, peak_bytes=64 * MiB)
    assert budget_from_probe(probe, free_bytes=10 * 1024 * MiB) == 229_376


def test_budget_is_clamped() -> None:
    probe = Probe(cost=2048, peak_bytes=64 * MiB)
    assert budget_from_probe(probe, free_bytes=1 * MiB) == 256
    assert budget_from_probe(probe, free_bytes=1 << 50, ceiling=100_000) == 100_000


def test_degenerate_probes_fall_back_to_the_floor() -> None:
    assert budget_from_probe(Probe(cost=0, peak_bytes=10), free_bytes=MiB) == 256
    assert budget_from_probe(Probe(cost=10, peak_bytes=0), free_bytes=MiB) == 256
