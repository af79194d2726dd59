"""The job options ``markup`` and ``placeholders``, as the contract validates them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mtq.core.markup.parse import MARKUPS
from mtq.core.markup.placeholders import NAMES


@dataclass(frozen=True)
class MarkupOptions:
    markup: str = "none"
    placeholders: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Whether segments are masked at all (off: today's path, untouched)."""
        return self.markup != "none" or bool(self.placeholders)


def options_problem(markup: str | None, placeholders: Sequence[str] | None) -> str | None:
    """Why these option values are invalid, in one line, or None."""
    if markup is not None and markup not in MARKUPS:
        return f"options.markup must be one of {', '.join(MARKUPS)} (got {markup[:40]!r})"
    unknown = [name for name in placeholders or () if name not in NAMES]
    if unknown:
        return (f"options.placeholders: unknown pattern {unknown[0][:40]!r} "
                f"(known: {', '.join(NAMES)})")
    return None


def markup_options(markup: str | None, placeholders: Sequence[str] | None) -> MarkupOptions:
    """Validated values (see :func:`options_problem`) with the defaults applied."""
    names = tuple(name for name in NAMES if name in (placeholders or ()))
    return MarkupOptions(markup or "none", names)
