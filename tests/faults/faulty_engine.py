"""A test double of the engine that misbehaves on demand, for the fault tests.

Fault tests need inputs that misbehave in the engine, which no real input does reliably.
:class:`FaultyEngine` wraps a real engine; a segment whose text contains the marker ``M``
(``MARKER`` by default) makes the batch holding it, when it reaches ``generate``:

- ``M``: end the process abruptly (``os._exit(70)``, like a CUDA abort or the OOM killer);
- ``M:raise``: raise (like any engine exception);
- ``M:oom``: raise an out-of-memory error while the batch has more than one segment (bisection
  then gets it through);
- ``M:sleep=S``: take ``S`` more seconds (a long GPU batch).

``encode`` notes which token-id sequences came from marked texts (the engine only ever sees
ids past that point); everything else is the real engine. In-process tests pass
``FaultyEngine(engine)`` to :class:`~worker.app.Worker`; child processes run
``python -m tests.faults.fault_worker`` (the real worker with this engine).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from typing import Any

from mtq.core.contract import DecodeOptions
from mtq.core.vouch import Hypothesis
from worker.engines import Engine

log = logging.getLogger(__name__)
MARKER = "FAULT"
CRASH_EXIT_CODE = 70


class InjectedFault(RuntimeError):
    """Raised by the ``:raise`` fault; behaves like any engine exception."""


class InjectedOutOfMemory(RuntimeError):
    """Raised by the ``:oom`` fault; worded like torch's CUDA out-of-memory error."""


class FaultyEngine:
    def __init__(self, inner: Engine, marker: str = MARKER) -> None:
        self._inner = inner
        self._marker = marker
        self._pattern = re.compile(re.escape(marker) + r"(?::(raise|oom|sleep=[0-9.]+))?")
        self._actions: dict[tuple[int, ...], list[str]] = {}  # token ids -> fault actions
        self.info = inner.info
        self.max_source_tokens = inner.max_source_tokens

    def __getattr__(self, name: str) -> Any:  # decode, warmup, budget, memory: the real ones
        return getattr(self._inner, name)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        encoded = self._inner.encode(texts)
        for text, ids in zip(texts, encoded, strict=True):
            if self._marker in text:
                actions = [m.group(1) or "crash" for m in self._pattern.finditer(text)]
                self._actions[tuple(ids)] = actions
        return encoded

    def generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[list[int]]:
        self._before(sources)
        return self._inner.generate(sources, options, prefixes=prefixes)

    def generate_scored(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[Hypothesis]:
        self._before(sources)
        return self._inner.generate_scored(sources, options, prefixes=prefixes)

    def _before(self, sources: Sequence[Sequence[int]]) -> None:
        actions = [
            (index, action)
            for index, ids in enumerate(sources)
            for action in self._actions.get(tuple(ids), ())
        ]
        for _index, action in actions:
            if action.startswith("sleep="):
                time.sleep(float(action.removeprefix("sleep=")))
        for index, action in actions:
            if action == "raise":
                raise InjectedFault(f"injected failure for row {index}")
            if action == "oom" and len(sources) > 1:
                raise InjectedOutOfMemory(
                    "CUDA out of memory. Tried to allocate 2.00 GiB (injected for a batch of "
                    f"{len(sources)} segments)"
                )
        if any(action == "crash" for _, action in actions):
            log.critical("injected crash, exiting now")
            logging.shutdown()
            os._exit(CRASH_EXIT_CODE)
