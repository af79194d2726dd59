"""Sizing the micro-batch token budget from the device's memory rather than a constant.

On CUDA the worker runs one probe batch of known cost (segments × source length × beam)
decoding to the full output length, reads the peak memory it took above the resident model,
and scales the budget to the free memory with headroom. Beam search memory grows about
linearly in that cost at a fixed output length, so one probe is a fair estimate; the
OOM path (split the batch, lower the budget) covers what the estimate misses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    cost: int  # segments × longest source tokens × beam size of the probe batch
    peak_bytes: int  # peak allocated during the probe, minus what was allocated before


def budget_from_probe(
    probe: Probe, free_bytes: int, *, headroom: float = 0.7, floor: int = 256,
    ceiling: int = 1 << 20,
) -> int:
    """The largest cost that fits ``headroom`` of ``free_bytes`` at the probe's bytes per unit."""
    if probe.cost <= 0 or probe.peak_bytes <= 0 or free_bytes <= 0:
        return floor
    bytes_per_unit = probe.peak_bytes / probe.cost
    budget = int(free_bytes * headroom / bytes_per_unit)
    return max(floor, min(ceiling, budget))
