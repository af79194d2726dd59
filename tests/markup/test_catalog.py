"""Every catalog segment restores with its guarantees, with and without an alignment."""

from __future__ import annotations

from collections import Counter

import pytest

from mtq.core.markup import Kind, mask, parse, restore
from mtq.core.markup.codes import UNBALANCED, UNPARSED, Text
from mtq.core.markup.units import units
from tests.markup.catalog import CATALOG

_MALFORMED = {
    "Broken <b>open tag never closed.",
    "Stray close</i> tag here.",
    "Crossed <b>tags <i>are</b> wrong</i> here.",
}


def _letters(text: str, markup: str, placeholders: tuple[str, ...] = ()) -> str:
    """The text without codes and without whitespace (codes may take a space's place)."""
    parsed = parse(text, markup, placeholders)
    return "".join("".join(item.plain for item in parsed.items if isinstance(item, Text)).split())


def _fake_translation(text: str) -> str:
    """A stand-in translation with other words and a reordering, to move codes around."""
    words = [f"w{len(w)}{w[::-1]}" for w in text.split()]
    if len(words) > 3:
        words[1], words[2] = words[2], words[1]
    return " ".join(words)


def _identity_alignment(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    return [(span, span) for span in units(text)]


@pytest.mark.parametrize(("markup", "placeholders", "segment"), CATALOG)
@pytest.mark.parametrize("aligned", [False, True], ids=["fallback", "identity-alignment"])
def test_guarantees(markup: str, placeholders: tuple[str, ...], segment: str,
                    aligned: bool) -> None:
    masked = mask(segment, markup, placeholders)
    target = masked.text if aligned else _fake_translation(masked.text)
    result = restore(masked, target, _identity_alignment(target) if aligned else None)

    source_codes = parse(segment, markup, placeholders).codes
    output = parse(result.text, markup, placeholders)
    assert Counter(c.raw for c in output.codes) == Counter(c.raw for c in source_codes)
    codes = {w.code for w in result.warnings}
    if segment in _MALFORMED:
        assert UNBALANCED in codes
    else:
        assert not any(w.code == UNBALANCED for w in output.warnings), result.text
        assert codes <= {UNPARSED}, result.warnings
    # Markup never changes the words: without codes, the output is the translation.
    if masked.text:
        assert _letters(result.text, markup, placeholders) == _letters(target, "none")


@pytest.mark.parametrize(("markup", "placeholders", "segment"), CATALOG)
def test_identity_alignment_gives_back_the_source_codes_in_place(
    markup: str, placeholders: tuple[str, ...], segment: str
) -> None:
    """Translating a segment into itself, aligned word for word, keeps every code in place."""
    masked = mask(segment, markup, placeholders)
    result = restore(masked, masked.text, _identity_alignment(masked.text))
    kinds = [c.kind for c in parse(result.text, markup, placeholders).codes]
    assert kinds == [c.kind for c in parse(segment, markup, placeholders).codes]
    assert [c.raw for c in parse(result.text, markup, placeholders).codes] == [
        c.raw for c in parse(segment, markup, placeholders).codes]


def test_catalog_is_large_and_varied() -> None:
    assert len(CATALOG) >= 50
    assert {m for m, _, _ in CATALOG} == {"none", "html", "xml"}
    kinds = Counter(c.kind for m, p, s in CATALOG for c in parse(s, m, p).codes)
    assert all(kinds[k] for k in Kind if k is not Kind.TERM)  # terms: tests/terms
