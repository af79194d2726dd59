"""Term entries and the job's terminology options, with the validation that names the entry.

An entry maps a source term to the target term that must appear in the translation. A
do-not-translate string is an entry whose target is its source (and an entry whose target
equals its source means the same): it must come back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_INLINE_ENTRIES = 1000  # options.glossary and options.do_not_translate together
MAX_STORED_ENTRIES = 20000  # one stored glossary version
MAX_TERM_CHARS = 256
METHODS = ("mask", "inline", "replace")
DNT_METHODS = METHODS
DEFAULT_METHOD = "inline"
GLOSSARY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class TermEntry:
    source: str
    target: str

    @property
    def keep(self) -> bool:
        """A do-not-translate entry: the source must come back unchanged."""
        return self.source == self.target


@dataclass(frozen=True)
class GlossaryRef:
    """The stored glossary a job used, as the result reports it."""

    id: str
    version: int

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "version": self.version}


@dataclass(frozen=True)
class TermOptions:
    """``options.glossary``, ``glossary_id``, ``do_not_translate`` and their settings.

    ``entries`` holds every entry the job is held to: inline ones, do-not-translate strings
    (as entries with target = source) and, once intake resolved ``glossary_id``, the stored
    glossary's (``stored`` says which version). Everything here shapes the output, so all of
    it is part of the translation cache's key.
    """

    entries: tuple[TermEntry, ...] = ()
    glossary_id: str | None = None
    stored: GlossaryRef | None = None
    case_sensitive: bool = True
    method: str = DEFAULT_METHOD

    @property
    def requested(self) -> bool:
        """The job asked for terminology (its result carries the report)."""
        return bool(self.entries) or self.glossary_id is not None


def entry_problem(where: str, source: object, target: object) -> str | None:
    """Why one entry is invalid (``where`` names it, e.g. ``options.glossary[3]``), or None.

    A do-not-translate string (``where`` names ``do_not_translate``) is one string, checked once.
    """
    sides = (("string", source),) if "do_not_translate" in where else (
        ("source", source), ("target", target))
    for side, value in sides:
        if not isinstance(value, str):
            return f"{where}: {side} must be a string"
        if not value.strip():
            return f"{where}: {side} is empty"
        if value != value.strip():
            return f"{where}: {side} {value[:40]!r} has leading or trailing whitespace"
        if len(value) > MAX_TERM_CHARS:
            return f"{where}: {side} is longer than {MAX_TERM_CHARS} characters"
        if _CONTROL.search(value):
            return f"{where}: {side} {value[:40]!r} contains a control character"
    return None


def entries_problem(
    entries: Sequence[tuple[str, TermEntry]], case_sensitive: bool = True,
    limit: int = MAX_INLINE_ENTRIES, what: str = "options.glossary and options.do_not_translate",
) -> str | None:
    """Why these (where, entry) pairs cannot be used together, naming the entry, or None."""
    if len(entries) > limit:
        return f"{what} hold {len(entries)} entries; the limit is {limit}"
    seen: dict[str, tuple[str, TermEntry]] = {}
    for where, entry in entries:
        problem = entry_problem(where, entry.source, entry.target)
        if problem is not None:
            return problem
        key = entry.source if case_sensitive else entry.source.lower()
        earlier = seen.get(key)
        if earlier is not None and earlier[1].target != entry.target:
            return (f"{where}: {entry.source[:40]!r} is also {earlier[0]} with another target "
                    f"({earlier[1].target[:40]!r} vs {entry.target[:40]!r})")
        seen.setdefault(key, (where, entry))
    return None


def merged(
    stored: Sequence[TermEntry], inline: Sequence[TermEntry], case_sensitive: bool = True
) -> tuple[TermEntry, ...]:
    """A stored glossary with the job's own entries: an inline entry wins for its source."""
    def key(entry: TermEntry) -> str:
        return entry.source if case_sensitive else entry.source.lower()

    own = {key(e) for e in inline}
    return (*inline, *(e for e in stored if key(e) not in own))
