"""Test-only fault injection, off unless ``MTQ_FAULT_CRASH_MARKER`` is set.

Fault tests need inputs that misbehave in the engine on demand, which no real input does
reliably. With the marker set to ``M``, a segment containing

- ``M`` makes the worker exit abruptly (``os._exit(70)``, like a CUDA abort or the OOM killer)
  whenever a batch holding it reaches the engine;
- ``M:raise`` makes ``generate`` raise for the batch holding it;
- ``M:oom`` makes ``generate`` raise an out-of-memory error while the batch holding it has more
  than one segment (bisection then gets it through);
- ``M:sleep=S`` makes the batch holding it take ``S`` more seconds (a long GPU batch).

Production never sets the marker, so this costs one substring test per segment at most.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field

from worker.scheduler import Batch

log = logging.getLogger(__name__)
CRASH_EXIT_CODE = 70


class InjectedFault(RuntimeError):
    """Raised by the ``:raise`` fault; behaves like any engine exception."""


class InjectedOutOfMemory(RuntimeError):
    """Raised by the ``:oom`` fault; worded like torch's CUDA out-of-memory error."""


@dataclass(frozen=True)
class FaultHook:
    marker: str = ""
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.marker:
            pattern = re.compile(re.escape(self.marker) + r"(?::(raise|oom|sleep=[0-9.]+))?")
            object.__setattr__(self, "_pattern", pattern)

    def before_generate(self, batch: Batch) -> None:
        if self._pattern is None:
            return
        actions = [
            (segment, match.group(1) or "crash")
            for segment in batch.segments
            if self.marker in segment.text
            for match in self._pattern.finditer(segment.text)
        ]
        for _segment, action in actions:
            if action.startswith("sleep="):
                time.sleep(float(action.removeprefix("sleep=")))
        for segment, action in actions:
            if action == "raise":
                raise InjectedFault(f"injected failure for segment {segment.index}")
            if action == "oom" and len(batch.segments) > 1:
                raise InjectedOutOfMemory(
                    "CUDA out of memory. Tried to allocate 2.00 GiB (injected for a batch of "
                    f"{len(batch.segments)} segments)"
                )
        for segment, action in actions:
            if action == "crash":
                log.critical("job %s: injected crash, exiting now", segment.job_key)
                logging.shutdown()
                os._exit(CRASH_EXIT_CODE)
