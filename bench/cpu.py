"""Where the CPU went during a run: per thread of this process, per helper process, and the
rest of the machine. Linux only (``/proc``); elsewhere it reports nothing.

On a small shared machine this is the profile that explains an end-to-end number: the
inference thread needs one core to itself, and everything else (the worker's event loop,
RabbitMQ, the dispatcher, the client, other people's jobs) competes for what is left.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

OTHER_USERS = "rest of the machine (other users)"
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_THREAD_GROUPS = (
    ("mtq-inference", "worker: inference thread"),
    ("mtq-tokenize", "worker: tokenize/detokenize pool"),
    ("MainThread", "worker: event loop (AMQP, settling)"),
)


def _stat_cpu_s(path: Path) -> float | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _machine_busy_s() -> float | None:
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICK


def _threads() -> dict[int, float]:
    found: dict[int, float] = {}
    for task in Path("/proc/self/task").iterdir() if Path("/proc/self/task").exists() else ():
        cpu = _stat_cpu_s(task / "stat")
        if cpu is not None:
            found[int(task.name)] = cpu
    return found


def find_pids(command: str) -> list[int]:
    """Processes whose ``comm`` is ``command`` (``beam.smp`` for RabbitMQ)."""
    pids = []
    for entry in Path("/proc").iterdir() if Path("/proc").exists() else ():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == command:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@dataclass
class _Snapshot:
    threads: dict[int, float]
    process: float | None
    others: dict[str, float]
    machine: float | None


class CpuAccount:
    """CPU seconds between :meth:`start` and :meth:`stop`, grouped for a report."""

    def __init__(self, processes: dict[str, list[int]]) -> None:
        self.processes = processes
        self._start: _Snapshot | None = None

    def _take(self) -> _Snapshot:
        others = {}
        for label, pids in self.processes.items():
            values = [_stat_cpu_s(Path(f"/proc/{pid}/stat")) for pid in pids]
            others[label] = sum(v for v in values if v is not None)
        return _Snapshot(
            _threads(), _stat_cpu_s(Path("/proc/self/stat")), others, _machine_busy_s()
        )

    def start(self) -> None:
        self._start = self._take()

    def stop(self) -> dict[str, float]:
        """Seconds of CPU per group; empty where ``/proc`` is missing."""
        if self._start is None or self._start.process is None:
            return {}
        end = self._take()
        names = {t.native_id: t.name for t in threading.enumerate() if t.native_id}
        groups: dict[str, float] = {}
        for tid, cpu in end.threads.items():
            used = cpu - self._start.threads.get(tid, 0.0)
            name = names.get(tid, "")
            group = next((label for prefix, label in _THREAD_GROUPS if name.startswith(prefix)),
                         "worker process: other threads")
            groups[group] = groups.get(group, 0.0) + used
        process = (end.process or 0.0) - self._start.process
        # Threads that ended during the run are only in the process total.
        accounted = sum(groups.values())
        if process > accounted:
            groups["worker process: other threads"] = (
                groups.get("worker process: other threads", 0.0) + process - accounted
            )
        for label, cpu in end.others.items():
            groups[label] = cpu - self._start.others.get(label, 0.0)
        if end.machine is not None and self._start.machine is not None:
            ours = process + sum(groups[label] for label in end.others)
            groups[OTHER_USERS] = max(
                0.0, end.machine - self._start.machine - ours
            )
        return {label: round(value, 2) for label, value in groups.items()}
