"""Masking: the text the model sees, and where each code sat in it.

Rules for the masked text (documented in the README):
- codes and placeholders are removed; entities in text are decoded (html/xml);
- a standalone code or placeholder between two word characters leaves one space
  (``a<br/>b`` reads ``a b``), as does an html block element (``<li>a</li><li>b</li>``);
  whitespace on both sides of removed codes collapses to the first run, and the text is
  stripped (the segment's own leading/trailing whitespace comes back as is); a space left
  before closing punctuation by a removed code goes (``Hello {name}, you`` reads
  ``Hello, you``);
- a paired tag whose content has no text (``<g id="1"></g>``, ``<b>%s</b>``) is one standalone
  block, restored verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mtq.core.markup.codes import Code, Item, Kind, MarkupWarning, TermText, Text
from mtq.core.markup.parse import HTML_BLOCKS, parse
from mtq.core.terms.match import TermMatch, TermMatcher

Site = tuple[int, int, str]  # a term read as text in ``Masked.text``: start, end, its target


@dataclass(frozen=True)
class Masked:
    source: str
    markup: str
    placeholders: tuple[str, ...]
    text: str  # what the model translates
    codes: tuple[Code, ...]  # in source order
    anchors: tuple[int, ...]  # per code: its offset in ``text``
    spacing: tuple[tuple[bool, bool], ...]  # per code: whitespace before / after it in the source
    partner: tuple[int | None, ...]  # per code: index of the matching tag, if paired
    prefix: str
    suffix: str
    warnings: tuple[MarkupWarning, ...]
    terms: tuple[TermMatch, ...] = ()  # every term occurrence in the source, in order
    sites: tuple[Site, ...] = ()  # inline/replace terms: where each is read, its target

    @property
    def term_codes(self) -> bool:
        return any(code.kind is Kind.TERM for code in self.codes)


def mask(
    segment: str, markup: str, placeholders: Sequence[str] = (),
    terms: TermMatcher | None = None, inline: bool = False, replace: bool = False,
) -> Masked:
    """The text the model reads; with ``terms``, term occurrences are masked (``term`` codes)
    or, ``inline``, replaced by their targets in the text, or, ``replace``, left as they are
    (each becomes a site: its translation is replaced by the target afterwards)."""
    parsed = parse(segment, markup, placeholders, terms, inline, replace)
    items, pairs = _collapse_blocks(segment, list(parsed.items), parsed.pairs)
    text, codes, anchors, partner, sites = _build(items, pairs, markup)
    stripped = text.strip()
    lead = len(text) - len(text.lstrip())
    spacing = tuple(
        (c.start > 0 and segment[c.start - 1].isspace(),
         c.end < len(segment) and segment[c.end].isspace())
        for c in codes
    )
    stripped_source = segment.strip()
    start = len(segment) - len(segment.lstrip())
    return Masked(
        source=segment,
        markup=markup,
        placeholders=tuple(placeholders),
        text=stripped,
        codes=tuple(codes),
        anchors=tuple(min(max(a - lead, 0), len(stripped)) for a in anchors),
        spacing=spacing,
        partner=tuple(partner),
        prefix=segment[:start],
        suffix=segment[start + len(stripped_source):],
        warnings=parsed.warnings,
        terms=parsed.terms,
        sites=tuple((s - lead, e - lead, target) for s, e, target in sites),
    )


def _collapse_blocks(
    segment: str, items: list[Item], pairs: dict[int, int]
) -> tuple[list[Item], dict[int, int]]:
    """Pairs without any text inside become one standalone code (their exact source bytes)."""
    out: list[Item] = []
    new_pairs: dict[int, int] = {}
    opened: dict[int, int] = {}  # old open index -> new index
    closes = {close: open_ for open_, close in pairs.items()}
    index = 0
    while index < len(items):
        item = items[index]
        if isinstance(item, Code) and index in pairs:
            close = pairs[index]
            inner = items[index + 1:close]
            if not any((isinstance(i, Text) and i.plain.strip())
                       or (isinstance(i, Code) and i.kind is Kind.TERM) for i in inner):
                last = items[close]
                assert isinstance(last, Code)
                out.append(Code(segment[item.start:last.end], Kind.STANDALONE, item.name,
                                item.start))
                index = close + 1
                continue
            opened[index] = len(out)
        elif index in closes:
            new_pairs[opened[closes[index]]] = len(out)
        out.append(item)
        index += 1
    return out, new_pairs


def _build(
    items: list[Item], pairs: dict[int, int], markup: str
) -> tuple[str, list[Code], list[int], list[int | None], list[Site]]:
    parts: list[str] = []
    length = 0
    codes: list[Code] = []
    anchors: list[int] = []
    code_index: dict[int, int] = {}
    pending_space = False
    last_char = ""
    sites: list[Site] = []
    for index, item in enumerate(items):
        if isinstance(item, Code):
            code_index[index] = len(codes)
            codes.append(item)
            anchors.append(length)
            if _wordy(last_char) and (
                item.kind in (Kind.STANDALONE, Kind.PLACEHOLDER, Kind.TERM)
                or (markup == "html" and item.name in HTML_BLOCKS)
            ):
                pending_space = True
            continue
        plain = item.plain
        if not plain:
            continue
        if pending_space and _wordy(plain[0]):
            plain = " " + plain
        pending_space = False
        if last_char.isspace():
            plain = plain.lstrip()
            if not plain:
                continue
        if last_char == " " and plain[0] in _CLOSING and anchors and anchors[-1] == length:
            # ``Hello {name}, you`` reads ``Hello, you``, not ``Hello , you``.
            parts[-1] = parts[-1][:-1]
            length -= 1
            anchors = [min(a, length) for a in anchors]
        parts.append(plain)
        if isinstance(item, TermText):
            sites.append((length + len(plain) - len(item.plain), length + len(plain),
                          item.target))
        length += len(plain)
        last_char = plain[-1]
    partner: list[int | None] = [None] * len(codes)
    for open_, close in pairs.items():
        partner[code_index[open_]] = code_index[close]
        partner[code_index[close]] = code_index[open_]
    return "".join(parts), codes, anchors, partner, sites


_CLOSING = frozenset(",.;:!?)]}»、。，")


def _wordy(ch: str) -> bool:
    return bool(ch) and (ch.isalnum() or ch == "_")
