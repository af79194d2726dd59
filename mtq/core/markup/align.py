"""Alignments between the masked source and the translation, at the level of units.

An engine aligns tokens: :func:`token_spans` places them in the text, :func:`word_links`
turns a target-by-source attention matrix into character-span links between words
(:func:`token_links` does it token by token), and :func:`unit_links` turns those into unit
links for placement. Without an alignment, :func:`lexical_links` finds units that are spelled
the same on both sides (names, numbers) as anchors for the monotone fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mtq.core.markup.units import Span, units

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


def word_links(
    attention: Sequence[Sequence[float]],
    source_spans: Sequence[Span | None], source_text: str,
    target_spans: Sequence[Span | None], target_text: str,
) -> list[CharLink]:
    """Link each target word to the source word it attends to most, summing the weights of
    the words' tokens first: a word split into pieces votes once, with all of its pieces,
    instead of each piece taking its own argmax (pieces of one word disagree, and a piece
    that sees little is a coin toss)."""
    source_words, source_of = _grouped(source_spans, units(source_text))
    target_words, target_of = _grouped(target_spans, units(target_text))
    votes = [[0.0] * len(source_words) for _ in target_words]
    for row, target in zip(attention, target_of, strict=False):
        if target is None:
            continue
        for column, weight in enumerate(row[: len(source_of)]):
            source = source_of[column]
            if source is not None:
                votes[target][source] += weight
    links: list[CharLink] = []
    for target, weights in enumerate(votes):
        if weights and max(weights) > 0.0:
            best = max(range(len(weights)), key=weights.__getitem__)
            links.append((source_words[best], target_words[target]))
    return links


def _grouped(
    spans: Sequence[Span | None], words: Sequence[Span]
) -> tuple[list[Span], list[int | None]]:
    """The words tokens fall in, and per token the index of its word (None: no span)."""
    found: list[Span] = []
    index: dict[Span, int] = {}
    of: list[int | None] = []
    for span in spans:
        word = None if span is None else next(
            (w for w in words if w[0] < span[1] and span[0] < w[1]), None)
        if word is None:
            of.append(None)
            continue
        of.append(index.setdefault(word, len(found)))
        if len(found) < len(index):
            found.append(word)
    return found, of


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
