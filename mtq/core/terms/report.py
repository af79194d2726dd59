"""The compliance report of one translation, computed from the delivered text alone.

For every entry matched in a segment's source, ``found`` says whether its target appears in the
translation as often as the entry occurs in the source (whole words, the job's case rule,
overlapping targets resolved longest first as on the source side). Nothing the worker did is
taken on trust: a target is found only if the delivered text holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mtq.core.terms.entries import TermEntry
from mtq.core.terms.match import TermMatch, TermMatcher

TERM_MISSING = "term_missing"  # a warning code (README, "Terminology")


@dataclass(frozen=True)
class TermResult:
    source: str
    target: str
    found: bool
    occurrences: int = 1  # in the source

    def to_json(self) -> dict[str, object]:
        return {"source": self.source, "target": self.target, "found": self.found}


@dataclass(frozen=True)
class SegmentTerms:
    results: tuple[TermResult, ...]

    @property
    def matched(self) -> int:
        return len(self.results)

    @property
    def honoured(self) -> int:
        return sum(1 for r in self.results if r.found)

    def missing(self) -> list[TermResult]:
        return [r for r in self.results if not r.found]


def required(
    matches: Sequence[TermMatch], case_sensitive: bool = True
) -> dict[tuple[str, str], int]:
    """(entry source, target) -> occurrences in the source, in order of first occurrence.

    Without case sensitivity, occurrences whose targets differ only in case are one item
    (named by the first occurrence's target).
    """
    wanted: dict[tuple[str, str], int] = {}
    named: dict[tuple[str, str], tuple[str, str]] = {}
    for match in matches:
        folded = (match.entry.source, match.target if case_sensitive else match.target.lower())
        key = named.setdefault(folded, (match.entry.source, match.target))
        wanted[key] = wanted.get(key, 0) + 1
    return wanted


def check_segment(
    matches: Sequence[TermMatch], output: str, case_sensitive: bool = True,
    escape: Callable[[str], str] = str,
) -> SegmentTerms:
    """The report for one segment: ``matches`` in its source, ``output`` as delivered.

    ``escape`` turns a target into its form in the output (markup escapes ``&``, ``<``, ``>``).
    """
    wanted = required(matches, case_sensitive)
    if not wanted:
        return SegmentTerms(())
    forms = {target: escape(target) for _, target in wanted}
    finder = TermMatcher([TermEntry(f, f) for f in set(forms.values())], case_sensitive)
    have = finder.count(output)
    fold = (lambda s: s) if case_sensitive else str.lower
    results = tuple(
        TermResult(source, target, have.get(fold(forms[target]), 0) >= count, count)
        for (source, target), count in wanted.items()
    )
    return SegmentTerms(results)


def target_counts(
    targets: Sequence[str], output: str, case_sensitive: bool = True
) -> dict[str, int]:
    """How often each of ``targets`` occurs in ``output`` (by target as given)."""
    finder = TermMatcher([TermEntry(t, t) for t in set(targets)], case_sensitive)
    have = finder.count(output)
    return {t: have.get(t if case_sensitive else t.lower(), 0) for t in targets}
