"""Scripted decoding for the HF engine in tests: a logits processor that, per source, forces
a token sequence (then end-of-sentence), a loop that never ends, or an end at a given step.

:func:`scripted` wraps the engine's ``model.generate`` so the processor sees which source each
batch row belongs to (``generate`` is called with the encoder ids), whatever the batch holds.
Forced tokens score 0 (probability 1), as the engine's own forcing does.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Force:
    """Write ``tokens``, then end-of-sentence."""

    tokens: tuple[int, ...]


@dataclass(frozen=True)
class Loop:
    """Write ``tokens`` over and over, never ending."""

    tokens: tuple[int, ...]


@dataclass(frozen=True)
class EndAt:
    """Decode freely, then end-of-sentence at output step ``step``."""

    step: int


Script = Force | Loop | EndAt


class ScriptedProcessor:
    def __init__(self, torch: Any, rows: Sequence[Script | None], beams: int, eos: int) -> None:
        self._torch, self._rows, self._beams, self._eos = torch, rows, beams, eos

    def _forced(self, script: Script | None, step: int) -> int | None:
        if isinstance(script, Force):
            return script.tokens[step] if step < len(script.tokens) else self._eos
        if isinstance(script, Loop):
            return script.tokens[step % len(script.tokens)]
        if isinstance(script, EndAt) and step >= script.step:
            return self._eos
        return None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        step = input_ids.shape[-1] - 1
        processed = scores.clone()
        for row in range(scores.shape[0]):
            token = self._forced(self._rows[row // self._beams], step)
            if token is not None:
                processed[row] = -math.inf
                processed[row, token] = 0
        return processed


@contextlib.contextmanager
def scripted(
    engine: Any, plan: Mapping[tuple[int, ...], Script],
    retry: Mapping[tuple[int, ...], Script] | None = None,
) -> Iterator[None]:
    """While open, sources named in ``plan`` (by their token ids) decode as scripted; a retry
    against repetition (``no_repeat_ngram_size`` set) follows ``retry`` instead, if given."""
    from transformers import LogitsProcessorList

    model = engine.model
    original: Callable[..., Any] = model.generate
    eos = int(model.generation_config.eos_token_id)

    def generate(**kwargs: Any) -> Any:
        pad = int(engine.pad_id)
        sources = [tuple(t for t in row if t != pad) for row in kwargs["input_ids"].tolist()]
        chosen = retry if retry is not None and "no_repeat_ngram_size" in kwargs else plan
        rows = [chosen.get(source) for source in sources]
        processor = ScriptedProcessor(engine._torch, rows, kwargs["num_beams"], eos)
        return original(**kwargs, logits_processor=LogitsProcessorList([processor]))

    model.generate = generate
    try:
        yield
    finally:
        del model.generate
