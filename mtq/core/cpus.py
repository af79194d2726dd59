"""How many CPUs this process may really use: one count for every engine.

The affinity mask says which cores the scheduler may run us on; in a container the cgroup CPU
quota (a pod's CPU limit) says how much of them we may use. The smaller of the two counts.
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs usable by this process: the affinity mask, bounded by the cgroup quota (>= 1)."""
    count = affinity_cpus()
    quota = cgroup_quota_cpus(cgroup_root)
    if quota is not None:
        count = min(count, quota)
    return max(1, count)


def affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cgroup_quota_cpus(root: Path) -> int | None:
    """Whole CPUs the cgroup quota allows (v2 ``cpu.max``, else v1 CFS), ``None`` if unlimited."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        fields = v2.split()
        return quota_cpus(fields[0], fields[1]) if len(fields) >= 2 else None
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota = _read(root / folder / "cpu.cfs_quota_us")
        period = _read(root / folder / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return quota_cpus(quota, period)
    return None


def quota_cpus(quota: str, period: str) -> int | None:
    """``quota / period`` rounded down (at least 1); ``max`` or a negative quota: unlimited."""
    if quota.strip() == "max":
        return None
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    if quota_us < 0 or period_us <= 0:
        return None
    return max(1, quota_us // period_us)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
