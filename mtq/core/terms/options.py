"""The job options of terminology, as the contract validates them (``mtq/core/contract.py``).

``options.glossary``: inline entries ``{"source", "target"}``; ``options.glossary_id``: a
stored glossary of the job's tenant and language pair (resolved by the worker at intake);
``options.do_not_translate``: strings that must come back unchanged;
``options.terms_case_sensitive`` (default true) and ``options.terms_method`` (``inline``,
the default, ``replace`` or ``mask``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from mtq.core.terms.entries import (
    DEFAULT_METHOD,
    GLOSSARY_ID_PATTERN,
    MAX_INLINE_ENTRIES,
    METHODS,
    TermEntry,
    TermOptions,
    entries_problem,
    entry_problem,
)

__all__ = ["TermModel", "TermOptions", "term_options", "terms_of", "terms_problem",
           "terms_problem_of"]
Pairs = Sequence[tuple[str, str]]


class TermModel(BaseModel):
    """One ``options.glossary`` entry as the contract reads it (strict, no other fields)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    source: str
    target: str


def term_values(options: Any) -> tuple[Any, ...]:
    """The terminology fields of the contract's options model, for the functions below."""
    glossary = options.glossary
    pairs = [(t.source, t.target) for t in glossary] if glossary else None
    return (pairs, options.glossary_id, options.do_not_translate, options.terms_case_sensitive,
            options.terms_method)


def _located(glossary: Pairs, keep: Sequence[str]) -> list[tuple[str, TermEntry]]:
    located = [(f"options.glossary[{i}]", TermEntry(s, t)) for i, (s, t) in enumerate(glossary)]
    located += [(f"options.do_not_translate[{i}]", TermEntry(s, s)) for i, s in enumerate(keep)]
    return located


def terms_problem(
    glossary: Pairs | None, glossary_id: str | None, keep: Sequence[str] | None,
    case_sensitive: bool | None, method: str | None,
) -> str | None:
    """Why these option values are invalid, naming the option or entry, or None."""
    if glossary_id is not None and not GLOSSARY_ID_PATTERN.match(glossary_id):
        return "options.glossary_id must be 1-64 characters of [A-Za-z0-9._:-]"
    if method is not None and method not in METHODS:
        return f"options.terms_method must be one of {', '.join(METHODS)} (got {method[:40]!r})"
    count = len(glossary or ()) + len(keep or ())
    if count > MAX_INLINE_ENTRIES:
        return (f"options.glossary and options.do_not_translate hold {count} entries; the "
                f"limit is {MAX_INLINE_ENTRIES} (store larger glossaries: mtq glossary create)")
    for i, source in enumerate(keep or ()):
        problem = entry_problem(f"options.do_not_translate[{i}]", source, source)
        if problem is not None:
            return problem
    return entries_problem(_located(glossary or (), keep or ()), case_sensitive is not False)


def term_options(
    glossary: Pairs | None, glossary_id: str | None, keep: Sequence[str] | None,
    case_sensitive: bool | None, method: str | None,
) -> TermOptions:
    """Validated values (see :func:`terms_problem`) with the defaults applied."""
    entries = [entry for _, entry in _located(glossary or (), keep or ())]
    unique: dict[TermEntry, None] = dict.fromkeys(entries)  # a repeated entry counts once
    return TermOptions(
        entries=tuple(unique), glossary_id=glossary_id,
        case_sensitive=case_sensitive is not False, method=method or DEFAULT_METHOD,
    )


def terms_of(options: Any) -> TermOptions:
    """The contract's options model (``mtq/core/contract.py``) read into :class:`TermOptions`."""
    return term_options(*term_values(options))


def terms_problem_of(options: Any) -> str | None:
    """Why the contract's options model holds invalid terminology, or None."""
    return terms_problem(*term_values(options))
