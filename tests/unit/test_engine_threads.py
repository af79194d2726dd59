"""Usable CPUs (affinity and cgroup quota) and the HF engine's thread default."""

from __future__ import annotations

from pathlib import Path

from mtq.core.cpus import affinity_cpus, cgroup_quota_cpus, quota_cpus, usable_cpus
from worker.engines.hf import cpu_threads


def _write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_configured_threads_win() -> None:
    assert cpu_threads(3) == 3


def test_default_leaves_a_core_for_the_event_loop() -> None:
    assert cpu_threads(0) == max(1, usable_cpus() - 1)
    assert usable_cpus() >= 1


def test_cgroup_v2_quota(tmp_path: Path) -> None:
    _write(tmp_path, "cpu.max", "200000 100000\n")
    assert cgroup_quota_cpus(tmp_path) == 2


def test_cgroup_v2_unlimited(tmp_path: Path) -> None:
    _write(tmp_path, "cpu.max", "max 100000\n")
    assert cgroup_quota_cpus(tmp_path) is None
    assert usable_cpus(tmp_path) == affinity_cpus()


def test_cgroup_v1_cfs_quota(tmp_path: Path) -> None:
    _write(tmp_path, "cpu/cpu.cfs_quota_us", "300000\n")
    _write(tmp_path, "cpu/cpu.cfs_period_us", "100000\n")
    assert cgroup_quota_cpus(tmp_path) == 3


def test_cgroup_v1_unlimited_is_minus_one(tmp_path: Path) -> None:
    _write(tmp_path, "cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
    _write(tmp_path, "cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    assert cgroup_quota_cpus(tmp_path) is None


def test_no_cgroup_files(tmp_path: Path) -> None:
    assert cgroup_quota_cpus(tmp_path) is None
    assert usable_cpus(tmp_path) == affinity_cpus()


def test_fractional_quota_rounds_down_to_at_least_one() -> None:
    assert quota_cpus("150000", "100000") == 1
    assert quota_cpus("50000", "100000") == 1
    assert quota_cpus("garbage", "100000") is None
    assert quota_cpus("100000", "0") is None


def test_quota_bounds_the_affinity(tmp_path: Path) -> None:
    _write(tmp_path, "cpu.max", "100000 100000\n")
    assert usable_cpus(tmp_path) == 1
