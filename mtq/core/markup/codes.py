"""The pieces a marked-up segment is read into: text runs and codes.

A *code* is anything that must come back byte for byte and is never shown to the model: an
opening or closing tag, a standalone tag (``<x/>``, ``<br>``, a comment, a whole XLIFF
``<ph>…</ph>``), or a placeholder (``%s``, ``{0}``, ``{{count}}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    OPEN = "open"
    CLOSE = "close"
    STANDALONE = "standalone"
    PLACEHOLDER = "placeholder"
    TERM = "term"  # a glossary term or do-not-translate string (mask method): ``target`` out


@dataclass(frozen=True)
class Code:
    raw: str  # the exact source bytes
    kind: Kind
    name: str  # tag name (lower-cased in html) or placeholder pattern name
    start: int  # offset of ``raw`` in the source segment
    target: str | None = None  # a term: what the translation holds in its place

    @property
    def end(self) -> int:
        return self.start + len(self.raw)


@dataclass(frozen=True)
class Text:
    raw: str  # the exact source bytes
    plain: str  # what the model reads: entities decoded in html/xml mode
    start: int


@dataclass(frozen=True)
class TermText(Text):
    """A term the model reads as text: its target (``inline``: ``plain`` is the target) or
    itself (``replace``); where the translation lacks ``target``, the repair puts it in."""

    target: str


Item = Text | Code


@dataclass(frozen=True)
class MarkupWarning:
    """A per-segment note that a guarantee could not be met, or that input was not markup."""

    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


# Warning codes (documented in the README).
UNPARSED = "markup_unparsed"  # something that looks like a tag is not one: translated as text
UNBALANCED = "markup_unbalanced"  # source tags not paired/nested: kept as standalone codes
CODES_CHANGED = "codes_changed"  # the output's codes differ from the source's
PLACEHOLDERS_CHANGED = "placeholders_changed"  # a placeholder count differs from the source
OUTPUT_UNBALANCED = "output_unbalanced"  # the output's tags are not paired and nested


@dataclass(frozen=True)
class SegmentWarning:
    """A :class:`MarkupWarning` about one segment of a job, as the result reports it."""

    segment: int
    code: str
    message: str

    def to_json(self) -> dict[str, object]:
        return {"segment": self.segment, "code": self.code, "message": self.message}
