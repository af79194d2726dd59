"""Where term entries occur in a text.

Rules (documented in the README, "Terminology"):

- whole words: a match that starts (ends) with a letter or digit must not have one right
  before (after) it; characters of scripts written without spaces (CJK, Thai) are words on
  their own, so a term in them matches anywhere;
- case-sensitive by default; case-insensitive compares lower case (``str.lower``);
- where matches overlap, the longest entry wins (then the leftmost); every occurrence counts.

The matcher indexes entries by their first token, so a text is scanned once whatever the
number of entries.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mtq.core.terms.entries import TermEntry

_SINGLE = (  # one character, one word: scripts written without spaces
    "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u0e00-\u0e7f"
)
_TOKEN = re.compile(rf"[{_SINGLE}]|[^\W{_SINGLE}]+|[^\w\s]", re.UNICODE)
_SINGLE_CHAR = re.compile(rf"[{_SINGLE}]")


def _wordy(ch: str) -> bool:
    """A character that joins a word (letters, digits, underscore; not CJK/Thai)."""
    return (ch.isalnum() or ch == "_") and not _SINGLE_CHAR.match(ch)


@dataclass(frozen=True)
class TermMatch:
    start: int
    end: int
    entry: TermEntry
    text: str  # the occurrence as written in the text

    @property
    def target(self) -> str:
        """What must appear in the translation: a kept entry comes back as written."""
        return self.text if self.entry.keep else self.entry.target


class TermMatcher:
    """Finds the occurrences of ``entries`` in texts (see the module docstring for the rules)."""

    def __init__(self, entries: Sequence[TermEntry], case_sensitive: bool = True) -> None:
        self.case_sensitive = case_sensitive
        self.entries = tuple(entries)
        self._by_first: dict[str, list[TermEntry]] = {}
        for entry in self.entries:
            first = _TOKEN.match(self._fold(entry.source))
            if first is None:
                continue
            self._by_first.setdefault(first.group(), []).append(entry)

    def _fold(self, text: str) -> str:
        return text if self.case_sensitive else text.lower()

    def find(self, text: str) -> list[TermMatch]:
        """Every occurrence, overlaps resolved (longest first, then leftmost), in text order."""
        if not self._by_first or not text:
            return []
        folded = self._fold(text)
        if len(folded) != len(text):  # lower() changed a length: compare character by character
            folded = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
        candidates: list[tuple[int, int, TermEntry]] = []
        for token in _TOKEN.finditer(folded):
            for entry in self._by_first.get(token.group(), ()):
                start = token.start()
                end = start + len(entry.source)
                if folded.startswith(self._fold(entry.source), start) and self._ends_word(
                    text, entry.source, end
                ):
                    candidates.append((start, end, entry))
        return [TermMatch(s, e, entry, text[s:e]) for s, e, entry in _longest_first(candidates)]

    @staticmethod
    def _ends_word(text: str, source: str, end: int) -> bool:
        return end >= len(text) or not (_wordy(source[-1]) and _wordy(text[end]))

    def count(self, text: str) -> dict[str, int]:
        """How often each entry's source occurs in ``text`` (folded as the matcher folds)."""
        counts: dict[str, int] = {}
        for match in self.find(text):
            key = self._fold(match.text)
            counts[key] = counts.get(key, 0) + 1
        return counts


_Candidate = tuple[int, int, TermEntry]


def _longest_first(candidates: list[_Candidate]) -> list[_Candidate]:
    chosen: list[tuple[int, int, TermEntry]] = []
    taken: list[tuple[int, int]] = []
    for start, end, entry in sorted(candidates, key=lambda c: (c[0] - c[1], c[0])):
        if all(end <= s or start >= e for s, e in taken):
            chosen.append((start, end, entry))
            taken.append((start, end))
    return sorted(chosen, key=lambda c: c[0])


@functools.lru_cache(maxsize=256)
def matcher_for(entries: tuple[TermEntry, ...], case_sensitive: bool = True) -> TermMatcher:
    """One matcher per glossary (jobs of one glossary share it)."""
    return TermMatcher(entries, case_sensitive)
