"""Timing an engine's threading on a batch shaped like the scheduler's (engines/cpu/tuning.py).

The probe is real text, tokenized by the model's tokenizer and cut to a typical sentence's
length, repeated to the rows a full micro-batch would hold under the configured budget
(``MTQ_BATCH_TOKENS``, ``MTQ_MAX_BATCH_SEGMENTS``) at the jobs' default beam size, decoding a
bounded number of tokens. Each configuration first runs a small untimed batch (thread pools
and caches start), then the probe a few times; its best time counts.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from worker.engines.cpu.tuning import Threads, Tuning, tune

log = logging.getLogger(__name__)

# Sentences of similar, ordinary length: the scheduler's batches are length-sorted, so a real
# full batch pads little (one very long row would make the probe a different shape).
PROBE_TEXTS = (
    "The meeting was moved to Thursday afternoon because of the holiday.",
    "Please send the signed contract back to us before the end of the month.",
    "Our new office is close to the station and easy to find.",
    "If the problem persists, restart the device and contact our support team.",
    "Thank you for your order, it will be shipped within two days.",
    "The committee will publish its final report early next year.",
    "Where is the nearest pharmacy, and is it open on Sundays?",
    "Prices include taxes but not delivery, which depends on the address.",
)
PROBE_SOURCE_TOKENS = 24  # a typical sentence in subword tokens, whatever the tokenizer
PROBE_NEW_TOKENS = 24
REPEATS = 2

Generate = Callable[[Sequence[Sequence[int]], DecodeOptions], object]


@dataclass(frozen=True)
class Probe:
    sources: list[list[int]]
    options: DecodeOptions


def probe_batch(
    encode: Callable[[Sequence[str]], list[list[int]]], settings: Settings, beam_size: int,
) -> Probe:
    """A full micro-batch of real text at ``beam_size``, decoding a few dozen tokens.

    Rows are cut to :data:`PROBE_SOURCE_TOKENS` (keeping the last token, the end of sentence),
    so the probe has the shape of a batch of ordinary sentences whatever the tokenizer.
    """
    tokenized = [_cut(row, PROBE_SOURCE_TOKENS) for row in encode(list(PROBE_TEXTS))]
    longest = max(len(row) for row in tokenized)
    rows = min(settings.max_batch_segments, max(1, settings.batch_tokens // (longest * beam_size)))
    sources = [tokenized[i % len(tokenized)] for i in range(rows)]
    new_tokens = min(settings.default_max_new_tokens, PROBE_NEW_TOKENS)
    return Probe(sources, DecodeOptions(beam_size, new_tokens))


def _cut(row: list[int], length: int) -> list[int]:
    return row if len(row) <= length else row[: length - 1] + row[-1:]


def time_probe(
    generate: Generate, probe: Probe, warm_rows: int, give_up_s: float = math.inf,
    clock: Callable[[], float] = time.perf_counter, repeats: int = REPEATS,
) -> float:
    """The best of ``repeats`` timed runs of the probe, after an untimed small batch; no
    more runs once one took over ``give_up_s``."""
    generate(probe.sources[: max(1, warm_rows)], probe.options)
    best = math.inf
    for _ in range(repeats):
        began = clock()
        generate(probe.sources, probe.options)
        best = min(best, clock() - began)
        if best > give_up_s:
            break
    return best


def measure_threading(
    candidates: Sequence[Threads], apply: Callable[[Threads], None], generate: Generate,
    probe: Probe, bound_s: float, clock: Callable[[], float] = time.perf_counter,
) -> Tuning:
    """Tune over ``candidates`` (``apply`` switches the engine to one), log the table."""

    def measure(threads: Threads, give_up_s: float) -> float:
        apply(threads)
        return time_probe(generate, probe, 2 * threads.replicas, give_up_s, clock)

    tuning = tune(candidates, measure, bound_s, clock, probe_segments=len(probe.sources))
    apply(tuning.chosen)
    log.info(
        "threading: %s, measured in %.1f s on a probe of %d segments (beam %d, %d new tokens)"
        "\n%s", tuning.chosen.describe(), tuning.spent_s, len(probe.sources),
        probe.options.beam_size, probe.options.max_new_tokens, tuning.table(),
    )
    return tuning
