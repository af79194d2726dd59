"""Alignment units: words, single punctuation marks, and single CJK/Thai characters.

Codes are placed at unit boundaries, so a tag never splits a target word.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable

Span = tuple[int, int]


def _is_single(ch: str) -> bool:
    """Scripts written without spaces: each character is its own unit."""
    code = ord(ch)
    return (
        0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF or 0xAC00 <= code <= 0xD7AF or 0x0E00 <= code <= 0x0E7F
        or 0xFF00 <= code <= 0xFFEF
    )


def units(text: str) -> list[Span]:
    spans: list[Span] = []
    start: int | None = None
    for index, ch in enumerate(text):
        if ch.isspace():
            kind = "space"
        elif unicodedata.category(ch).startswith(("P", "S")) or _is_single(ch):
            kind = "single"
        else:
            kind = "word"
        if kind != "word" and start is not None:
            spans.append((start, index))
            start = None
        if kind == "single":
            spans.append((index, index + 1))
        elif kind == "word" and start is None:
            start = index
    if start is not None:
        spans.append((start, len(text)))
    return spans


def split_at(spans: list[Span], cuts: Iterable[int]) -> list[Span]:
    """``spans`` with each one that straddles a cut position split there (codes mid-word)."""
    points = sorted(set(cuts))
    out: list[Span] = []
    for start, end in spans:
        inner = [p for p in points if start < p < end]
        edges = [start, *inner, end]
        out.extend(itertools.pairwise(edges))
    return out


def unit_at(spans: list[Span], position: int, *, side: str) -> int:
    """The boundary (0..len(spans)) a code at ``position`` belongs to.

    ``side`` is ``open`` (a position inside a word moves to the word's start), ``close`` (to its
    end) or ``near`` (to the nearer edge).
    """
    before = sum(1 for _, end in spans if end <= position)
    if before < len(spans) and spans[before][0] < position:  # inside unit ``before``
        start, end = spans[before]
        if side == "close" or (side == "near" and end - position < position - start):
            return before + 1
    return before
