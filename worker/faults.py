"""Test-only fault injection, off unless ``MTQ_FAULT_CRASH_MARKER`` is set.

Fault tests need a job that kills the process every time it reaches the engine, which no real
input does reliably. A segment containing ``<marker>`` makes the worker exit abruptly
(``os._exit``, like a CUDA abort or the OOM killer); ``<marker>:raise`` makes ``generate``
raise for the batch holding it. Production never sets the marker, so this costs one
string test per segment at most.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from worker.scheduler import Batch

log = logging.getLogger(__name__)


class InjectedFault(RuntimeError):
    """Raised by the ``:raise`` fault; behaves like any engine exception."""


@dataclass(frozen=True)
class FaultHook:
    marker: str = ""

    def before_generate(self, batch: Batch) -> None:
        if not self.marker:
            return
        for segment in batch.segments:
            if f"{self.marker}:raise" in segment.text:
                raise InjectedFault(f"injected failure for segment {segment.index}")
        for segment in batch.segments:
            if self.marker in segment.text:
                log.critical("job %s: injected crash, exiting now", segment.job_key)
                os._exit(70)
