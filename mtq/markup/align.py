"""Alignments between the masked source and the translation, at the level of units.

An engine aligns tokens; :func:`token_links` turns a target-by-source attention matrix into
character-span links, which :func:`unit_links` turns into unit links for placement. Without an
alignment, :func:`lexical_links` finds units that are spelled the same on both sides (names,
numbers) as anchors for the monotone fallback.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from mtq.markup.units import Span

CharLink = tuple[Span, Span]  # (source chars in the masked text, target chars in the output)


def prefix_spans(
    decode: Callable[[Sequence[int]], str], ids: Sequence[int], reference: str
) -> list[Span | None]:
    """Each token's character span in ``reference``, found by decoding growing prefixes.

    Works for any tokenizer; ``reference`` is the text the tokens stand for (the masked source
    or the decoded translation). Where decoding does not reproduce ``reference`` exactly
    (normalization), offsets are mapped through a character diff.
    """
    decoded = decode(ids)
    mapping = _offset_map(decoded, reference)
    spans: list[Span | None] = []
    previous = 0
    for count in range(1, len(ids) + 1):
        end = len(decode(ids[:count]))
        end = min(max(end, previous), len(decoded))
        start, stop = mapping[previous], mapping[end]
        while start < stop and reference[start].isspace():
            start += 1
        spans.append((start, stop) if start < stop else None)
        previous = end
    return spans


def _offset_map(decoded: str, reference: str) -> list[int]:
    """For each offset in ``decoded`` (0..len), the matching offset in ``reference``."""
    if decoded == reference:
        return list(range(len(decoded) + 1))
    mapping = [0] * (len(decoded) + 1)
    matcher = difflib.SequenceMatcher(None, decoded, reference, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        for offset in range(a0, a1 + 1):
            if tag == "equal":
                mapping[offset] = b0 + (offset - a0)
            else:
                mapping[offset] = b0 + (b1 - b0) * (offset - a0) // max(a1 - a0, 1)
    return mapping


def token_links(
    attention: Sequence[Sequence[float]],
    source_spans: Sequence[Span | None],
    target_spans: Sequence[Span | None],
) -> list[CharLink]:
    """Link each target token to the source token it attends to most (hard argmax)."""
    links: list[CharLink] = []
    for row, target in zip(attention, target_spans, strict=False):
        if target is None:
            continue
        best, best_weight = None, -1.0
        for column, weight in enumerate(row[: len(source_spans)]):
            if source_spans[column] is not None and weight > best_weight:
                best, best_weight = column, weight
        if best is not None:
            source = source_spans[best]
            assert source is not None
            links.append((source, target))
    return links


def unit_links(
    links: Sequence[CharLink], source_units: Sequence[Span], target_units: Sequence[Span]
) -> set[tuple[int, int]]:
    result: set[tuple[int, int]] = set()
    for source, target in links:
        for i in _overlapping(source_units, source):
            for j in _overlapping(target_units, target):
                result.add((i, j))
    return result


def _overlapping(spans: Sequence[Span], span: Span) -> list[int]:
    return [k for k, (start, end) in enumerate(spans) if start < span[1] and span[0] < end]


def lexical_links(
    source: str, source_units: Sequence[Span], target: str, target_units: Sequence[Span]
) -> set[tuple[int, int]]:
    """Units spelled the same (case-folded) and unique on both sides."""
    def index(text: str, spans: Sequence[Span]) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for k, (start, end) in enumerate(spans):
            found.setdefault(text[start:end].casefold(), []).append(k)
        return found

    left, right = index(source, source_units), index(target, target_units)
    return {
        (left[word][0], right[word][0])
        for word in left
        if len(left[word]) == 1 and len(right.get(word, ())) == 1 and any(
            ch.isalnum() for ch in word)
    }


def monotone_anchors(links: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest chain of links increasing on both sides (ties broken by position)."""
    ordered = sorted(links)
    best: list[list[tuple[int, int]]] = []
    for link in ordered:
        chain = max(
            (c for c in best if c[-1][0] < link[0] and c[-1][1] < link[1]),
            key=len, default=[],
        )
        best.append([*chain, link])
    return max(best, key=len, default=[])
