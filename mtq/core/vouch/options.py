"""``options.min_confidence`` and ``options.on_suspect``: what a job asks of the guards."""

from __future__ import annotations

from dataclasses import dataclass

ON_SUSPECT = ("flag", "retry")


@dataclass(frozen=True)
class SuspectOptions:
    """``min_confidence``: below it a segment gets ``low_confidence`` (None: never).
    ``on_suspect``: ``flag`` (warnings only) or ``retry`` (decode a suspect segment again)."""

    min_confidence: float | None = None
    on_suspect: str = "flag"


def suspect_problem(min_confidence: object, on_suspect: object) -> str | None:
    """Why the options are refused (one line naming the field), or None."""
    if min_confidence is not None and (
        isinstance(min_confidence, bool) or not isinstance(min_confidence, int | float)
        or not 0.0 <= float(min_confidence) <= 1.0
    ):
        return "options.min_confidence must be a number between 0 and 1"
    if on_suspect is not None and on_suspect not in ON_SUSPECT:
        return f"options.on_suspect must be one of {', '.join(ON_SUSPECT)}"
    return None


def suspect_options(min_confidence: float | None, on_suspect: str | None) -> SuspectOptions:
    """The options of a job whose values passed :func:`suspect_problem`."""
    return SuspectOptions(
        None if min_confidence is None else float(min_confidence), on_suspect or "flag"
    )
