"""Restoring: put every source code back into the translation.

Placement works on unit boundaries (see :mod:`mtq.core.markup.units`). With an alignment, a pair of
tags wraps the target units aligned to its content and a standalone code goes next to the unit
aligned with its neighbour; the result is used only if it is consistent (children inside their
parent, siblings disjoint). Otherwise, or without an alignment, a monotone map from source to
target boundaries (through alignment or same-spelling anchors, interpolated in between) places
everything: it keeps the nesting by construction. Either way the codes are the source's own
strings, each once, so the guarantees hold; :mod:`mtq.core.markup.check` verifies them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from mtq.core.markup.align import CharLink, lexical_links, monotone_anchors, unit_links
from mtq.core.markup.check import verify
from mtq.core.markup.codes import Kind, MarkupWarning
from mtq.core.markup.mask import Masked
from mtq.core.markup.parse import HTML_BLOCKS, escape
from mtq.core.markup.units import split_at, unit_at, units

Range = tuple[int, int]  # target boundaries [start, end]; equal for a standalone code


@dataclass(frozen=True)
class Restored:
    text: str
    warnings: tuple[MarkupWarning, ...]
    aligned: bool  # placed from the alignment (False: the monotone fallback)


class _Inconsistent(Exception):
    pass


def restore(masked: Masked, target: str, alignment: Sequence[CharLink] | None = None) -> Restored:
    if not masked.text.strip():  # nothing was translatable: the segment is all codes
        return Restored(_codes_only(masked), masked.warnings, True)
    body = target.strip()
    plan = _Plan(masked, body)
    links = unit_links(alignment, plan.src_units, plan.tgt_units) if alignment else set()
    aligned = bool(links)
    ranges = plan.from_alignment(links) if links else None
    text = None
    if ranges is not None:
        try:
            text = plan.render(ranges)
        except _Inconsistent:
            text = None
    if text is None:
        aligned = False
        anchors = links or lexical_links(masked.text, plan.src_units, body, plan.tgt_units)
        text = plan.render(plan.monotone(anchors))
    output = masked.prefix + _unguard(text) + masked.suffix
    warnings = list(masked.warnings)
    for warning in verify(masked, output):
        if warning not in warnings:
            warnings.append(warning)
    return Restored(output, tuple(warnings), aligned)


# Around a term's target while rendering, so it never runs into a neighbouring word.
_GUARD_OPEN, _GUARD_CLOSE = "\ue000", "\ue001"


def _codes_only(masked: Masked) -> str:
    """A segment without translatable text: the source, each term replaced by its target."""
    out, cursor = [], 0
    for code in masked.codes:
        if code.kind is Kind.TERM and code.target is not None:
            out.append(masked.source[cursor:code.start])
            out.append(escape(code.target, masked.markup))
            cursor = code.end
    return "".join(out) + masked.source[cursor:]


def _unguard(text: str) -> str:
    """Drop the guards around term targets, with a space where a target touches a word."""
    if _GUARD_OPEN not in text:
        return text
    guards = (_GUARD_OPEN, _GUARD_CLOSE)
    out: list[str] = []
    for n, ch in enumerate(text):
        if ch not in guards:
            out.append(ch)
            continue
        following = text[n + 1:].lstrip(_GUARD_OPEN + _GUARD_CLOSE)[:1]
        if out and out[-1][-1:].isalnum() and following.isalnum():
            out.append(" ")
    return "".join(out)


class _Plan:
    def __init__(self, masked: Masked, target: str) -> None:
        self.m = masked
        # Guards only when nothing else holds their characters (they are private-use).
        self.guard = not any(g in masked.source + target for g in (_GUARD_OPEN, _GUARD_CLOSE))
        self.target = target
        self.src_units = split_at(units(masked.text), masked.anchors)
        self.tgt_units = units(target)
        self.n, self.t = len(self.src_units), len(self.tgt_units)
        self.parent: list[int | None] = []
        stack: list[int] = []
        for k, code in enumerate(masked.codes):
            self.parent.append(stack[-1] if stack else None)
            if code.kind is Kind.OPEN:
                stack.append(k)
            elif code.kind is Kind.CLOSE and stack:
                stack.pop()
        self.source: dict[int, Range] = {}  # open/standalone code -> source boundaries
        for k, code in enumerate(masked.codes):
            anchor = masked.anchors[k]
            if code.kind is Kind.OPEN:
                close = masked.partner[k]
                assert close is not None
                start = unit_at(self.src_units, anchor, side="open")
                end = unit_at(self.src_units, masked.anchors[close], side="close")
                self.source[k] = (start, max(start, end))
            elif code.kind is not Kind.CLOSE:
                at = unit_at(self.src_units, anchor, side="near")
                self.source[k] = (at, at)

    # -- placement ------------------------------------------------------------------------

    def from_alignment(self, links: set[tuple[int, int]]) -> dict[int, Range] | None:
        by_source: dict[int, list[int]] = {}
        for i, j in links:
            by_source.setdefault(i, []).append(j)
        ranges: dict[int, Range] = {}
        for k, (start, end) in self.source.items():
            if start < end:
                hits = [j for i in range(start, end) for j in by_source.get(i, ())]
                if not hits:
                    return None
                ranges[k] = (min(hits), max(hits) + 1)
                continue
            before, _after = self.m.spacing[k]
            left = by_source.get(start - 1) if start > 0 else None
            right = by_source.get(start) if start < self.n else None
            if start == 0:
                ranges[k] = (0, 0)
            elif start == self.n:
                ranges[k] = (self.t, self.t)
            elif left and (not before or not right):
                ranges[k] = (max(left) + 1,) * 2
            elif right:
                ranges[k] = (min(right),) * 2
            else:
                return None
        return ranges

    def monotone(self, links: set[tuple[int, int]]) -> dict[int, Range]:
        points = {0: 0, self.n: self.t}
        for i, j in monotone_anchors(links):
            points.setdefault(i, j)
            points.setdefault(i + 1, j + 1)
        known = sorted(points.items())

        def f(boundary: int) -> int:
            for (i0, j0), (i1, j1) in itertools.pairwise(known):
                if i0 <= boundary <= i1:
                    if i1 == i0:
                        return j0
                    return j0 + ((boundary - i0) * (j1 - j0) * 2 + (i1 - i0)) // ((i1 - i0) * 2)
            return self.t

        return {k: (f(start), f(end)) for k, (start, end) in self.source.items()}

    # -- rendering --------------------------------------------------------------------------

    def render(self, ranges: dict[int, Range]) -> str:
        events: list[tuple[str, int]] = []  # ("unit", j) or ("open"/"close"/"code", k)
        children: dict[int | None, list[int]] = {}
        for k in ranges:
            children.setdefault(self.parent[k], []).append(k)
        self._walk(None, (0, self.t), ranges, children, events)
        return self._assemble(events)

    def _walk(
        self, node: int | None, bounds: Range, ranges: dict[int, Range],
        children: dict[int | None, list[int]], events: list[tuple[str, int]],
    ) -> None:
        cursor, limit = bounds
        kids = sorted(children.get(node, []),
                      key=lambda k: (ranges[k][0], ranges[k][0] < ranges[k][1], k))
        for k in kids:
            start, end = ranges[k]
            if start < cursor or end > limit:
                raise _Inconsistent
            events.extend(("unit", j) for j in range(cursor, start))
            if self.m.codes[k].kind is Kind.OPEN:
                events.append(("open", k))
                self._walk(k, (start, end), ranges, children, events)
                close = self.m.partner[k]
                assert close is not None
                events.append(("close", close))
            else:
                events.append(("code", k))
            cursor = end
        events.extend(("unit", j) for j in range(cursor, limit))

    def _assemble(self, events: list[tuple[str, int]]) -> str:
        out: list[str] = []
        markup = self.m.markup
        previous_unit: int | None = None
        pending: list[tuple[str, int]] = []
        for kind, value in [*events, ("end", -1)]:
            if kind not in ("unit", "end"):
                pending.append((kind, value))
                continue
            following = value if kind == "unit" else None
            gap_start = self.tgt_units[previous_unit][1] if previous_unit is not None else 0
            gap_end = self.tgt_units[following][0] if following is not None else len(self.target)
            gap = self.target[gap_start:gap_end] if previous_unit is not None and (
                following is not None) else ""
            out.append(self._boundary(pending, gap, previous_unit is None, following is None))
            pending = []
            if following is not None:
                start, end = self.tgt_units[following]
                out.append(escape(self.target[start:end], markup))
                previous_unit = following
        return "".join(out)

    def _term_space(self, pending: list[tuple[str, int]], n: int) -> bool:
        """A term next to another code keeps the source's space before it (``</b> Acme``)."""
        if n == 0:
            return False
        kind, k = pending[n]
        codes = self.m.codes
        terms = codes[k].kind is Kind.TERM or codes[pending[n - 1][1]].kind is Kind.TERM
        return terms and kind != "close" and self.m.spacing[k][0]

    def _rendered(self, k: int) -> str:
        code = self.m.codes[k]
        if code.kind is not Kind.TERM or code.target is None:
            return code.raw
        target = escape(code.target, self.m.markup)
        return _GUARD_OPEN + target + _GUARD_CLOSE if self.guard else target

    def _boundary(
        self, pending: list[tuple[str, int]], gap: str, at_start: bool, at_end: bool
    ) -> str:
        """The codes between two target units, with the gap between them put where it fits."""
        escaped_gap = escape(gap, self.m.markup)
        if not pending:
            return escaped_gap
        codes = self.m.codes
        spacing = self.m.spacing
        if gap.isspace() and all(
            spacing[k] == (False, False) and (kind == "code" or (
                self.m.markup == "html" and codes[k].name in HTML_BLOCKS))
            for kind, k in pending
        ):
            escaped_gap = ""  # ``a<br/>b``, ``</li><li>``: the codes take the space's place
        split = next(
            (n for n, (kind, k) in enumerate(pending)
             if kind == "open" or (kind == "code" and spacing[k][0])),
            len(pending),
        )
        parts: list[str] = []
        last = len(pending) - 1
        terms = any(codes[k].kind is Kind.TERM for _, k in pending)
        # Where the model wrote its two words together (``bamon.``, CJK), the source's space
        # next to a code would split them: codes only, no space.
        joined = not gap and not at_start and not at_end and not terms
        for n, (kind, k) in enumerate(pending):
            if n == split:
                parts.append(escaped_gap)
            before, after = (False, False) if joined else spacing[k]
            # Keep the source's space between a code and the text next to it where the gap
            # does not already provide it (``<b> Save </b>``, ``<x/> Hello``, ``%d files``).
            if (n == 0 and before and not at_start and kind != "open" and (
                n < split or not escaped_gap
            )) or self._term_space(pending, n):
                parts.append(" ")
            parts.append(self._rendered(k))
            if n == last and after and not at_end and (kind != "close" or terms) and (
                n >= split or not escaped_gap
            ):
                parts.append(" ")
        if split == len(pending):
            parts.append(escaped_gap)
        return "".join(parts)
