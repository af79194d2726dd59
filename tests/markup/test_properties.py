"""Property tests on mask/restore alone: any well-formed input comes back with its codes."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtq.core.markup import mask, parse, restore, verify
from mtq.core.markup.codes import PLACEHOLDERS_CHANGED, UNBALANCED, Text
from mtq.core.markup.units import units

_WORD = st.lists(
    st.sampled_from([*"abcXYZéß0123456789.,!?-'\"", "مر", "שלו", "日本", "&amp;"]),
    min_size=1, max_size=6,
).map("".join)
_PLACEHOLDER = st.sampled_from(["%s", "%1$d", "{0}", "{name}", "{{count}}", "%%"])
_SPACE = st.sampled_from(["", " ", " ", "  ", "\n"])

_STANDALONE = {
    "xml": st.sampled_from(['<x id="1"/>', '<bx id="2" rid="1"/>', '<ex id="3" rid="1"/>',
                            '<ph id="4">&lt;br/&gt;</ph>', "<!-- note -->", '<ph id="5"/>']),
    "html": st.sampled_from(["<br>", "<br/>", '<img src="a.png" alt="x > y">', "<hr />",
                             "<!-- c -->"]),
}
_PAIR = {
    "xml": st.sampled_from([('<g id="1">', "</g>"), ('<g id="2" ctype="x-bold">', "</g>"),
                            ('<mrk mtype="term">', "</mrk>"), ('<pc id="7">', "</pc>")]),
    "html": st.sampled_from([("<b>", "</b>"), ('<a href="/x?a=1&amp;b=2" title="a > b">', "</a>"),
                             ("<i class='it'>", "</i>"), ("<span>", "</span>"),
                             ("<li>", "</li>")]),
}


def _segment(markup: str) -> st.SearchStrategy[str]:
    leaf = st.one_of(_WORD, _WORD, _PLACEHOLDER, _STANDALONE[markup])

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        joined = st.lists(st.tuples(_SPACE, children), max_size=4).map(
            lambda parts: "".join(space + child for space, child in parts))
        return st.tuples(_PAIR[markup], joined).map(lambda t: t[0][0] + t[1] + t[0][1])

    node = st.recursive(leaf, extend, max_leaves=12)
    return st.lists(st.tuples(_SPACE, node), min_size=1, max_size=6).map(
        lambda parts: "".join(space + child for space, child in parts))


_TARGET = st.lists(
    st.lists(st.sampled_from([*"lmnoé.,<>&\"", "ال", "日"]), min_size=1, max_size=5).map("".join),
    max_size=12,
).map(" ".join)
_PLACEHOLDERS = ("printf", "curly", "double_curly")


@st.composite
def _case(draw: st.DrawFn) -> tuple[str, str, str, list | None]:
    markup = draw(st.sampled_from(["xml", "html"]))
    segment = draw(_segment(markup))
    target = draw(_TARGET)
    masked = mask(segment, markup, _PLACEHOLDERS)
    source_units, target_units = units(masked.text), units(target)
    alignment = None
    if source_units and target_units and draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(st.sampled_from(source_units),
                                        st.sampled_from(target_units)), max_size=20))
        alignment = list(pairs)
    return markup, segment, target, alignment


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case())
def test_restore_keeps_every_code_and_the_nesting(case: tuple[str, str, str, list | None]) -> None:
    markup, segment, target, alignment = case
    masked = mask(segment, markup, _PLACEHOLDERS)
    result = restore(masked, target, alignment)
    source = parse(segment, markup, _PLACEHOLDERS)
    output = parse(result.text, markup, _PLACEHOLDERS)
    assert Counter(c.raw for c in output.codes) == Counter(c.raw for c in source.codes)
    assert not any(w.code == UNBALANCED for w in output.warnings), result.text
    assert result.warnings == ()
    if masked.text.strip():  # the words are the translation's, whatever the codes did
        letters = "".join("".join(i.plain for i in output.items if isinstance(i, Text)).split())
        assert letters == "".join(target.split())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case())
def test_masked_text_never_contains_a_code(case: tuple[str, str, str, list | None]) -> None:
    markup, segment, _, _ = case
    masked = mask(segment, markup, _PLACEHOLDERS)
    for code in parse(segment, markup, _PLACEHOLDERS).codes:
        if code.raw.startswith("<") or code.raw in ("%s", "{0}", "{{count}}"):
            assert code.raw not in masked.text


def test_a_placeholder_the_model_invented_is_reported() -> None:
    masked = mask("Delete %s files?", "none", ("printf",))
    result = restore(masked, "Supprimer les fichiers %d")
    assert [w.code for w in result.warnings] == [PLACEHOLDERS_CHANGED]
    assert "%s" in result.text


def test_verify_reports_a_dropped_code() -> None:
    masked = mask('Click <g id="1">Save</g>.', "xml")
    assert [w.code for w in verify(masked, "Cliquez Enregistrer.")] == ["codes_changed"]


_SOUP = st.lists(st.sampled_from([
    "<b>", "</b>", "<i>", "</i>", "<g id='1'>", "</g>", "<x/>", "<br>", "<", ">", "&amp;", "&",
    "&bogus;", "%s", "{0}", "{{n}}", "{", "}", "%", "word", "mot", " ", "  ", "\n", ".", "日本",
    "<!-- c", "-->", '<a href="', '">',
]), max_size=25).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["xml", "html", "none"]), _SOUP, _TARGET, st.booleans())
def test_any_input_keeps_its_codes_even_when_it_is_not_well_formed(
    markup: str, segment: str, target: str, aligned: bool
) -> None:
    masked = mask(segment, markup, _PLACEHOLDERS)
    alignment = [(span, span) for span in units(target)] if aligned else None
    result = restore(masked, target, alignment)
    source = parse(segment, markup, _PLACEHOLDERS)
    output = parse(result.text, markup, _PLACEHOLDERS)
    assert Counter(c.raw for c in output.codes) == Counter(c.raw for c in source.codes)
    broken = {w.code for w in result.warnings} - {"markup_unparsed", "markup_unbalanced"}
    assert not broken, result
