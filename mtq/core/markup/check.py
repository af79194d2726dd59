"""The guarantees, verified on the finished output by reading it again from scratch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mtq.core.markup.codes import (
    CODES_CHANGED,
    OUTPUT_UNBALANCED,
    PLACEHOLDERS_CHANGED,
    UNBALANCED,
    Code,
    Kind,
    MarkupWarning,
)
from mtq.core.markup.parse import parse
from mtq.core.markup.placeholders import ANY_PLACEHOLDER

if TYPE_CHECKING:
    from mtq.core.markup.mask import Masked


def verify(masked: Masked, output: str) -> list[MarkupWarning]:
    """Warnings for every guarantee ``output`` breaks relative to ``masked.source``."""
    source = parse(masked.source, masked.markup, masked.placeholders)
    result = parse(output, masked.markup, masked.placeholders)
    warnings: list[MarkupWarning] = []
    want = Counter(c.raw for c in source.codes if c.kind is not Kind.PLACEHOLDER)
    have = Counter(c.raw for c in result.codes if c.kind is not Kind.PLACEHOLDER)
    if want != have:
        warnings.append(MarkupWarning(CODES_CHANGED, _difference(want, have, "code")))
    want = Counter(c.raw for c in source.codes if c.kind is Kind.PLACEHOLDER)
    have = Counter(c.raw for c in result.codes if c.kind is Kind.PLACEHOLDER)
    if masked.placeholders:  # independent of the job's patterns: anything that looks like one
        want |= _directives(source.codes, masked.source)
        have |= _directives(result.codes, output)
    if want != have:
        warnings.append(MarkupWarning(PLACEHOLDERS_CHANGED, _difference(want, have, "placeholder")))
    source_unbalanced = any(w.code == UNBALANCED for w in source.warnings)
    if not source_unbalanced and any(w.code == UNBALANCED for w in result.warnings):
        warnings.append(MarkupWarning(OUTPUT_UNBALANCED, "tags are not paired and nested"))
    return warnings


def _directives(codes: Sequence[Code], text: str) -> Counter[str]:
    """Placeholder-like directives in ``text`` outside its tags (their attributes are codes)."""
    found: Counter[str] = Counter()
    position = 0
    for code in (*(c for c in codes if c.kind is not Kind.PLACEHOLDER), None):
        end = len(text) if code is None else code.start
        found.update(m.group() for m in ANY_PLACEHOLDER.finditer(text, position, end))
        if code is not None:
            position = code.start + len(code.raw)
    return found


def _difference(want: Counter[str], have: Counter[str], what: str) -> str:
    missing = sorted((want - have).elements())
    extra = sorted((have - want).elements())
    parts = []
    if missing:
        parts.append(f"missing {what}s {missing!r}"[:200])
    if extra:
        parts.append(f"unexpected {what}s {extra!r}"[:200])
    return "; ".join(parts)
