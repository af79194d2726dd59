"""Terminology: glossaries and do-not-translate lists, matched, enforced and reported. Pure.

- ``entries``: a term entry, the job's terminology options (:class:`TermOptions`), the
  validation that names the entry at fault, the limits.
- ``match``: where entries occur in a text (whole words, longest entry wins, every occurrence).
- ``report``: the compliance report of one delivered translation, from its text alone.
- ``repair``: the ``inline`` method's safety net: a target the model did not write is put in at
  the span aligned with its source.
- ``files``: glossary files (TSV, CSV, TBX) read into entries.

The masking itself is :mod:`mtq.core.markup`'s: a matched term is a code of kind ``term``
(``mask`` method: the model never sees it, the target is put in at restoration) or a text run
the model reads as the target term (``inline`` method). docs/terminology.md explains both.
"""

from mtq.core.terms.entries import (
    DNT_METHODS,
    MAX_INLINE_ENTRIES,
    MAX_TERM_CHARS,
    METHODS,
    GlossaryRef,
    TermEntry,
    TermOptions,
    entries_problem,
)
from mtq.core.terms.match import TermMatch, TermMatcher, matcher_for
from mtq.core.terms.report import TERM_MISSING, SegmentTerms, TermResult, check_segment

__all__ = [
    "DNT_METHODS", "MAX_INLINE_ENTRIES", "MAX_TERM_CHARS", "METHODS", "TERM_MISSING",
    "GlossaryRef", "SegmentTerms", "TermEntry", "TermMatch", "TermMatcher", "TermOptions",
    "TermResult", "check_segment", "entries_problem", "matcher_for",
]
