"""Optional sampling profiles of a run with py-spy (``--profile DIR``).

py-spy samples every thread of this process from outside, native frames of torch excluded,
so it shows where the worker's threads spend CPU: inside ``generate`` (the engine), in the
event loop (AMQP, JSON, bookkeeping), in tokenizing. :func:`summarize` turns its raw
(collapsed-stack) output into the excerpt docs/performance.md quotes.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

_REPO = str(Path(__file__).resolve().parents[1]) + "/"
_STDLIB = str(Path(os.__file__).parent) + "/"


class PySpy:
    """``py-spy record`` on this process for the duration of a ``with`` block."""

    def __init__(self, output: Path, rate: int = 50, gil: bool = False) -> None:
        self.output = output
        self.rate = rate
        self.gil = gil  # sample only the thread holding the GIL
        self.process: subprocess.Popen[bytes] | None = None
        self.error: str | None = None

    @staticmethod
    def executable() -> str | None:
        """py-spy on PATH, or next to this interpreter (a virtualenv's bin/)."""
        beside = Path(sys.executable).parent / "py-spy"
        return shutil.which("py-spy") or (str(beside) if beside.exists() else None)

    def __enter__(self) -> PySpy:
        executable = self.executable()
        if executable is None:
            self.error = "py-spy not installed (pip install py-spy)"
            return self
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                executable, "record", "--pid", str(os.getpid()), "--rate", str(self.rate),
                "--format", "raw", "--threads", "--output", str(self.output), "--nonblocking",
                *(["--gil"] if self.gil else []),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            _, stderr = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        if not self.output.exists():
            self.error = stderr.decode(errors="replace").strip()[-500:] or "no output"


def summarize(raw: Path, top: int = 12) -> str:
    """Samples per thread, and the functions with the most samples of their own (self time)."""
    threads: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith("thread") else "?"
        calls = frames[1:] if thread != "?" else frames
        total += count
        threads[_thread_name(thread, calls)] += count
        if calls:
            leaves[_short(calls[-1])] += count
        for name in {_short(frame) for frame in calls}:
            inclusive[name] += count
    if total == 0:
        return "(no samples)"
    lines = [f"{total} samples", "by thread:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in threads.most_common(6)]
    lines.append("self time (leaf function):")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in leaves.most_common(top)]
    lines.append("inclusive, selected:")
    for needle in SELECTED:
        matches = [(name, n) for name, n in inclusive.items() if needle in name]
        for name, n in sorted(matches, key=lambda item: -item[1])[:2]:
            lines.append(f"  {100 * n / total:5.1f}%  {name}")
    return "\n".join(lines)


# The functions whose inclusive share a profile reports, as py-spy names their frames
# ("Class.method (path"). tests/bench/test_profiling_names.py checks each still exists, so a
# rename cannot silently drop a row.
SELECTED_FUNCTIONS = (
    ("worker.engines.hf", "HFEngine.generate"),
    ("worker.engines.hf", "HFEngine.encode"),
    ("worker.engines.hf", "HFEngine.decode"),
    ("worker.lifecycle.driver", "Lifecycle.receive"),
    ("worker.lifecycle.driver", "Lifecycle.on_results"),
    ("worker.lifecycle.driver", "Lifecycle._settle_answer"),
    ("worker.broker.publisher", "ResultPublisher.publish_event"),
)
SELECTED = (*(f"{name} ({module.replace('.', '/')}" for module, name in SELECTED_FUNCTIONS),
            "aiormq/connection.py")


_THREADS = (
    ("mtq-inference", "worker: inference thread"),
    ("mtq-tokenize", "worker: tokenize/detokenize pool"),
    ("MainThread", "main thread (the worker's event loop in e2e runs)"),
    ("process_request_thread", "bench: webhook receiver"),
    ("serve_forever", "bench: webhook receiver"),
    ("asyncio_", "worker: default executor"),
)


def _thread_name(thread: str, calls: list[str]) -> str:
    """py-spy's ``thread (tid): name`` frame, grouped by what the thread is."""
    name = thread.split("): ", 1)[1] if "): " in thread else thread
    for needle, label in _THREADS:
        if needle in name:
            return label
    return name


def _short(frame: str) -> str:
    """``func (path/to/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", _STDLIB, _REPO):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name
