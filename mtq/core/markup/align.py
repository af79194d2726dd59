"""Alignments between the masked source and the translation, at the level of units.

An engine aligns tokens: :func:`token_spans` places them in the text, :func:`token_links` turns
a target-by-source attention matrix into character-span links, and :func:`unit_links` turns
those into unit links for placement. Without an
alignment, :func:`lexical_links` finds units that are spelled the same on both sides (names,
numbers) as anchors for the monotone fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mtq.core.markup.units import Span

CharLink = tuple[Span, Span]  # (source chars in the masked text, target chars in the output)


def token_spans(
    decode: Callable[[Sequence[Sequence[int]]], list[str]], ids: Sequence[int], reference: str
) -> list[Span | None]:
    """Each token's character span in ``reference``, or None where it cannot be found.

    Works for any tokenizer: every token is decoded on its own (one batch call) and looked for
    in ``reference`` (the text the tokens stand for: the masked source or the decoded
    translation) from where the previous one ended. Special tokens decode to nothing; a piece
    the tokenizer normalized (quotes, unknown characters) is not found and gets no span, so it
    takes no part in the alignment.
    """
    pieces = decode([[token] for token in ids])
    spans: list[Span | None] = []
    cursor = 0
    for piece in pieces:
        piece = piece.strip()
        at = reference.find(piece, cursor, cursor + len(piece) + _SLACK) if piece else -1
        if at < 0:
            spans.append(None)
            continue
        spans.append((at, at + len(piece)))
        cursor = at + len(piece)
    return spans


_SLACK = 16  # characters a piece may start after the previous one (spaces, skipped pieces)


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
