"""Read a segment into text runs and codes (tags, comments, placeholders), and pair its tags.

Lenient by design: text that looks like a tag but is not one stays text (with a warning), and
tags that are not properly paired and nested become standalone codes (with a warning), so a
code is never lost even when the source is not well formed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mtq.core.markup.codes import (
    UNBALANCED,
    UNPARSED,
    Code,
    Item,
    Kind,
    MarkupWarning,
    TermText,
    Text,
)
from mtq.core.markup.placeholders import compile_patterns
from mtq.core.terms.match import TermMatch, TermMatcher

MARKUPS = ("none", "html", "xml")
# Elements whose content is code, not text: kept whole as one standalone code.
OPAQUE = {
    "html": frozenset({"script", "style", "code-block"}),
    "xml": frozenset({"ph", "bpt", "ept", "it"}),  # XLIFF 1.2 native-code elements
}
HTML_VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
})
# Block elements separate words even with no space around them (``<li>a</li><li>b</li>``).
HTML_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "caption", "dd", "div", "dl", "dt",
    "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "li", "nav",
    "ol", "option", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "ul",
})
_NAME = r"[A-Za-z_:][-A-Za-z0-9_:.]*"
_ATTR = r"""\s+[^\s"'=<>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?"""
_TAG = re.compile(
    rf"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>|<![A-Za-z][^>]*>"
    rf"|<(?P<close>/)?(?P<name>{_NAME})(?:{_ATTR})*\s*(?P<self>/)?>",
    re.DOTALL,
)
_TAG_LIKE = re.compile(r"<[A-Za-z/!?]")
_XML_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6}|lt|gt|amp|quot|apos);")
_XML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


@dataclass(frozen=True)
class Parsed:
    items: tuple[Item, ...]
    pairs: dict[int, int]  # item index of an opening tag -> item index of its closing tag
    warnings: tuple[MarkupWarning, ...]
    terms: tuple[TermMatch, ...] = ()  # term occurrences, at their offsets in the segment

    @property
    def codes(self) -> list[Code]:
        return [item for item in self.items if isinstance(item, Code)]


def parse(
    segment: str, markup: str, placeholders: Sequence[str] = (),
    terms: TermMatcher | None = None, inline: bool = False, replace: bool = False,
) -> Parsed:
    """``segment`` read into text runs and codes; with ``terms``, each term occurrence in the
    text becomes a ``term`` code (or a text run: ``inline``, the model reads the target;
    ``replace``, the term itself)."""
    if markup not in MARKUPS:
        raise ValueError(f"unknown markup {markup!r}")
    warnings: list[MarkupWarning] = []
    pieces = _scan_tags(segment, markup, warnings) if markup != "none" else [
        Text(segment, segment, 0)
    ]
    pattern = compile_patterns(placeholders)
    items: list[Item] = []
    for piece in pieces:
        if isinstance(piece, Text):
            items.extend(_split_placeholders(piece, pattern, markup))
        else:
            items.append(piece)
    found: list[TermMatch] = []
    if terms is not None:
        items = [part for item in items
                 for part in _split_terms(item, terms, (inline, replace), markup, found)]
    pairs = _pair(items, markup, warnings)
    return Parsed(tuple(items), pairs, tuple(warnings), tuple(found))


def _split_terms(
    item: Item, terms: TermMatcher, read: tuple[bool, bool], markup: str,
    found: list[TermMatch],
) -> list[Item]:
    """A text run cut at its term occurrences (matched in the text as written)."""
    if not isinstance(item, Text):
        return [item]
    out: list[Item] = []
    cursor = 0
    raw = item.raw
    for match in terms.find(raw):
        if match.start > cursor:
            out.append(_text(raw[cursor:match.start], item.start + cursor, markup))
        at = item.start + match.start
        placed = TermMatch(at, at + len(match.text), match.entry, match.text)
        found.append(placed)
        target = placed.target
        inline, replace = read
        if inline:
            out.append(TermText(match.text, target, at, target))
        elif replace:
            out.append(TermText(match.text, unescape(match.text, markup), at, target))
        else:
            out.append(Code(match.text, Kind.TERM, "term", at, target))
        cursor = match.end
    if not out:
        return [item]
    if cursor < len(raw):
        out.append(_text(raw[cursor:], item.start + cursor, markup))
    return out


def _scan_tags(segment: str, markup: str, warnings: list[MarkupWarning]) -> list[Item]:
    items: list[Item] = []
    cursor = 0
    opaque = OPAQUE[markup]
    for match in _TAG.finditer(segment):
        if match.start() < cursor:
            continue  # inside an opaque element already taken whole
        _add_text(items, segment, cursor, match.start(), warnings)
        name = match.group("name") or ""
        key = name.lower() if markup == "html" else name
        end = match.end()
        if not name:
            kind = Kind.STANDALONE  # comment, CDATA, processing instruction, declaration
        elif match.group("close"):
            kind = Kind.CLOSE
        elif match.group("self") or (markup == "html" and key in HTML_VOID):
            kind = Kind.STANDALONE
        elif key in opaque:
            closing = re.compile(rf"</{re.escape(name)}\s*>", re.IGNORECASE if markup == "html"
                                 else 0).search(segment, end)
            kind = Kind.STANDALONE if closing else Kind.OPEN
            end = closing.end() if closing else end
        else:
            kind = Kind.OPEN
        items.append(Code(segment[match.start():end], kind, key, match.start()))
        cursor = end
    _add_text(items, segment, cursor, len(segment), warnings)
    return items


def _add_text(
    items: list[Item], segment: str, start: int, end: int, warnings: list[MarkupWarning]
) -> None:
    if start >= end:
        return
    raw = segment[start:end]
    if _TAG_LIKE.search(raw):
        snippet = raw[_TAG_LIKE.search(raw).start():][:24]  # type: ignore[union-attr]
        warnings.append(MarkupWarning(
            UNPARSED, f"{snippet!r} is not a well-formed tag; it was translated as text"))
    items.append(Text(raw, "", start))


def _split_placeholders(piece: Text, pattern: re.Pattern[str] | None, markup: str) -> list[Item]:
    out: list[Item] = []
    cursor = 0
    raw = piece.raw
    for match in pattern.finditer(raw) if pattern else ():
        if match.start() > cursor:
            out.append(_text(raw[cursor:match.start()], piece.start + cursor, markup))
        out.append(Code(match.group(0), Kind.PLACEHOLDER, match.lastgroup or "",
                        piece.start + match.start()))
        cursor = match.end()
    if cursor < len(raw):
        out.append(_text(raw[cursor:], piece.start + cursor, markup))
    return out


def _text(raw: str, start: int, markup: str) -> Text:
    return Text(raw, unescape(raw, markup), start)


def unescape(raw: str, markup: str) -> str:
    if markup == "html":
        return html.unescape(raw)
    if markup == "xml":
        return _XML_ENTITY.sub(_xml_entity, raw)
    return raw


def escape(text: str, markup: str) -> str:
    """Text the model wrote, made safe to sit between codes (``&``, ``<``, ``>``)."""
    if markup == "none":
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_entity(match: re.Match[str]) -> str:
    body = match.group(0)[1:-1]
    if body in _XML_NAMED:
        return _XML_NAMED[body]
    number = int(body[2:], 16) if body[1] in "xX" else int(body[1:])
    try:
        return chr(number)
    except (ValueError, OverflowError):
        return match.group(0)


def _pair(items: list[Item], markup: str, warnings: list[MarkupWarning]) -> dict[int, int]:
    """Match opening and closing tags; whatever does not pair becomes standalone."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    unpaired: list[int] = []
    for index, item in enumerate(items):
        if not isinstance(item, Code):
            continue
        if item.kind is Kind.OPEN:
            stack.append(index)
        elif item.kind is Kind.CLOSE:
            names = [items[i].name for i in stack]  # type: ignore[union-attr]
            if item.name not in names:
                unpaired.append(index)
                continue
            while items[stack[-1]].name != item.name:  # type: ignore[union-attr]
                unpaired.append(stack.pop())
            pairs[stack.pop()] = index
    unpaired.extend(stack)
    for index in sorted(unpaired):
        code = items[index]
        assert isinstance(code, Code)
        items[index] = Code(code.raw, Kind.STANDALONE, code.name, code.start)
        warnings.append(MarkupWarning(
            UNBALANCED, f"{code.raw[:40]!r} has no matching tag; it was kept where it aligns"))
    return pairs
