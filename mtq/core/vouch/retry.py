"""``options.on_suspect: "retry"``: how a suspect segment is decoded again, which result is
kept, and what its warnings then say. Pure.

Each finding asks for the setting that addresses it: ``truncated`` a doubled token cap (up to
the limit), ``repetition`` a repetition penalty and no repeated 3-grams, the others a larger
beam. The retry is kept when it has fewer guard findings than the first output, or as many and
a higher confidence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from mtq.core.contract import DecodeOptions
from mtq.core.vouch.guards import REPETITION, TRUNCATED

REPETITION_PENALTY = 1.2
NO_REPEAT_NGRAM = 3


@dataclass(frozen=True)
class RetryPlan:
    options: DecodeOptions
    how: str  # for the warning: "beam 8, token cap 512"


def retry_plan(
    options: DecodeOptions, codes: Collection[str], *, max_beam: int, token_limit: int
) -> RetryPlan | None:
    """The settings of a retry for a segment with ``codes``; None when none would change."""
    changes: dict[str, object] = {}
    how: list[str] = []
    if TRUNCATED in codes and options.max_new_tokens < token_limit:
        changes["max_new_tokens"] = min(token_limit, 2 * options.max_new_tokens)
        how.append(f"token cap {changes['max_new_tokens']}")
    if REPETITION in codes:
        changes["repetition_penalty"] = REPETITION_PENALTY
        changes["no_repeat_ngram_size"] = NO_REPEAT_NGRAM
        how.append(f"repetition penalty {REPETITION_PENALTY}, no repeated {NO_REPEAT_NGRAM}-grams")
    if set(codes) - {TRUNCATED, REPETITION} and options.beam_size < max_beam:
        changes["beam_size"] = min(max_beam, 2 * options.beam_size)
        how.append(f"beam {changes['beam_size']}")
    if not changes:
        return None
    return RetryPlan(dataclasses.replace(options, retry=True, **changes),  # type: ignore[arg-type]
                     ", ".join(how))


def retry_is_better(first: Sequence[str], first_confidence: float,
                    retried: Sequence[str], retried_confidence: float) -> bool:
    """Fewer findings wins; on a tie, the higher confidence."""
    return (len(retried), -retried_confidence) < (len(first), -first_confidence)


def outcome(how: str, kept: bool, retried: Sequence[str]) -> str:
    """The end of a retried segment's warning messages: what was tried and what came out."""
    found = ", ".join(retried)
    if kept and not retried:
        return f"; retried ({how}): the retry is clean and was kept"
    if kept:
        return f"; retried ({how}): the retry was kept, still {found}"
    return f"; retried ({how}): the retry was no better ({found or 'clean, lower confidence'}), " \
           "the first output was kept"
