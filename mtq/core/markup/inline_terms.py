"""Terms read as text (``inline``, ``replace``): a target the model did not write goes in.

With ``inline``, the model reads each term as its target (``Masked.sites``) and usually copies
it; with ``replace``, it reads the term itself and translates it. Where the translation holds a
target fewer times than the source has sites for it, each site whose target is missing
replaces the words aligned with it (the first words of the longest run of aligned word units,
no more than the target has; punctuation kept), or, without an alignment, goes in after the
translation of the nearest aligned word before it (else at the start). The links are moved
with the text, so codes are placed afterwards as usual. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mtq.core.markup.align import CharLink
from mtq.core.markup.mask import Site
from mtq.core.markup.units import Span, units
from mtq.core.terms.report import target_counts


@dataclass(frozen=True)
class Repaired:
    text: str
    links: tuple[CharLink, ...]
    repaired: int  # sites whose target was put in


def repair(
    sites: Sequence[Site], translation: str, links: Sequence[CharLink] | None,
    case_sensitive: bool = True, source_length: int = 0,
) -> Repaired:
    """``translation`` with every missing target of ``sites`` put in (``source_length``: the
    length of the text the sites are in, for placing a target without an alignment)."""
    text, moved, count = translation, list(links or ()), 0
    need: dict[str, int] = {}
    for _, _, target in sites:
        key = target if case_sensitive else target.lower()
        need[key] = need.get(key, 0) + 1
    for site in sites:
        target = site[2]
        key = target if case_sensitive else target.lower()
        have = target_counts([target], text, case_sensitive)[target]
        if have >= need[key]:
            continue
        kept = [span for t in {s[2] for s in sites}
                for span in _occurrences(text, t, case_sensitive)]
        at = _aligned_run(site, text, moved, kept)
        if at is None:
            at = _insertion_point(site, text, moved, source_length)
        text, moved = _put(text, moved, at, target, (site[0], site[1]))
        count += 1
    return Repaired(text, tuple(moved), count)


def _occurrences(text: str, target: str, case_sensitive: bool) -> list[Span]:
    hay, needle = (text, target) if case_sensitive else (text.lower(), target.lower())
    found, start = [], hay.find(needle)
    while start >= 0 and needle:
        found.append((start, start + len(needle)))
        start = hay.find(needle, start + 1)
    return found


def _aligned_run(
    site: Site, text: str, links: Sequence[CharLink], protected: Sequence[Span]
) -> Span | None:
    """The longest run of word units aligned with ``site`` (none inside any site's target
    already in the text, so a repair never undoes another)."""
    spans = units(text)
    linked = sorted({
        k for (source, target) in links if source[0] < site[1] and site[0] < source[1]
        for k, (start, end) in enumerate(spans)
        if start < target[1] and target[0] < end and text[start:end][:1].isalnum()
        and not any(s < end and start < e for s, e in protected)
    })
    if not linked:
        return None
    runs: list[list[int]] = []
    for k in linked:
        if runs and k == runs[-1][-1] + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    best = max(runs, key=len)
    # A target of n words replaces at most n: the model's word for the term comes first, and
    # a neighbour whose attention also fell on the term (an unknown word draws it) stays.
    best = best[:_word_count(site[2])]
    return spans[best[0]][0], spans[best[-1]][1]


def _word_count(target: str) -> int:
    return max(1, sum(target[s:e][:1].isalnum() for s, e in units(target)))


def _insertion_point(
    site: Site, text: str, links: Sequence[CharLink], source_length: int
) -> Span:
    """After the translation of the nearest aligned source before the site; without links,
    the word boundary nearest to the site's relative position."""
    before = [target[1] for source, target in links if source[1] <= site[0]]
    if before:
        at = max(before)
        return at, at
    if not links and source_length > 0:
        want = site[0] * len(text) / source_length
        bounds = [0, *(end for _, end in units(text)), len(text)]
        at = min(bounds, key=lambda b: (abs(b - want), b))
        return at, at
    return 0, 0


def _put(
    text: str, links: list[CharLink], at: Span, target: str, source: Span
) -> tuple[str, list[CharLink]]:
    start, end = at
    piece = target
    if start == end:  # an insertion: keep words apart
        if start > 0 and not text[start - 1].isspace():
            piece = " " + piece
        if start < len(text) and not text[start].isspace():
            piece = piece + " "
    new_text = text[:start] + piece + text[end:]
    delta = len(piece) - (end - start)
    lead = len(piece) - len(piece.lstrip(" "))
    placed = (start + lead, start + lead + len(target))
    moved: list[CharLink] = []
    for src, (t0, t1) in links:
        if t1 <= start and not (t0 == t1 == start):
            moved.append((src, (t0, t1)))
        elif t0 >= end and (start != end or t0 > start):
            moved.append((src, (t0 + delta, t1 + delta)))
        elif start != end:
            moved.append((src, placed))
        else:
            moved.append((src, (t0 + delta, t1 + delta)))
    moved.append((source, placed))
    return new_text, moved
