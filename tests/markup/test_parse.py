"""Reading segments: what is a code, what is text, what gets a warning."""

from __future__ import annotations

import pytest

from mtq.core.markup import Kind, markup_options, mask, options_problem, parse
from mtq.core.markup.codes import UNBALANCED, UNPARSED


def test_attributes_with_quotes_and_angle_brackets_are_one_code() -> None:
    parsed = parse('<a title="x > y" data-q=\'"\'>link</a>', "html")
    assert [c.raw for c in parsed.codes] == ['<a title="x > y" data-q=\'"\'>', "</a>"]
    assert parsed.pairs == {0: 2}


def test_xliff_native_code_elements_are_kept_whole() -> None:
    parsed = parse('a <ph id="1">&lt;br/&gt;</ph> b <bpt id="2">&lt;b&gt;</bpt>', "xml")
    assert [(c.kind, c.raw) for c in parsed.codes] == [
        (Kind.STANDALONE, '<ph id="1">&lt;br/&gt;</ph>'),
        (Kind.STANDALONE, '<bpt id="2">&lt;b&gt;</bpt>'),
    ]


def test_html_void_elements_and_comments_are_standalone() -> None:
    kinds = [c.kind for c in parse("a<br>b<img src=x><!-- c -->", "html").codes]
    assert kinds == [Kind.STANDALONE] * 3


def test_entities_are_decoded_for_the_model_and_escaped_back() -> None:
    masked = mask("Tom &amp; Jerry &lt;3", "xml")
    assert masked.text == "Tom & Jerry <3"


def test_pairs_without_text_are_one_block() -> None:
    masked = mask('Icon <span class="i"><x/></span> here', "html")
    assert [c.raw for c in masked.codes] == ['<span class="i"><x/></span>']
    assert masked.text == "Icon here"


def test_placeholders_only_outside_codes() -> None:
    parsed = parse('<a href="{url}">{name}</a> %s', "html", ("curly", "printf"))
    assert [(c.kind, c.raw) for c in parsed.codes if c.kind is Kind.PLACEHOLDER] == [
        (Kind.PLACEHOLDER, "{name}"), (Kind.PLACEHOLDER, "%s")]


def test_double_curly_wins_over_curly() -> None:
    codes = parse("{{count}} and {0}", "none", ("curly", "double_curly")).codes
    assert [c.raw for c in codes] == ["{{count}}", "{0}"]


def test_percent_signs_in_prose_are_not_placeholders() -> None:
    assert parse("50 % de remise, 100 % sûr", "none", ("printf",)).codes == []


def test_broken_tags_are_text_with_a_warning() -> None:
    parsed = parse('Click <b class="x>here', "html")
    assert parsed.codes == []
    assert [w.code for w in parsed.warnings] == [UNPARSED]


def test_unbalanced_tags_become_standalone_with_a_warning() -> None:
    parsed = parse("<b>one <i>two</b> three</i>", "html")
    assert [c.kind for c in parsed.codes] == [
        Kind.OPEN, Kind.STANDALONE, Kind.CLOSE, Kind.STANDALONE]
    assert {w.code for w in parsed.warnings} == {UNBALANCED}


def test_whitespace_rules_of_the_masked_text() -> None:
    assert mask("a<br/>b", "html").text == "a b"
    assert mask("un<b>believ</b>able", "html").text == "unbelievable"
    assert mask("  Click <b> Save </b> now ", "html").text == "Click Save now"
    assert mask("<li>one</li><li>two</li>", "html").text == "one two"


@pytest.mark.parametrize(("markup", "placeholders", "problem"), [
    ("html", None, None),
    (None, ["printf", "curly"], None),
    ("markdown", None, "options.markup must be one of none, html, xml (got 'markdown')"),
    (None, ["printf", "icu"], "options.placeholders: unknown pattern 'icu' "
                              "(known: double_curly, curly, printf)"),
])
def test_options_are_validated(markup: str | None, placeholders: list[str] | None,
                               problem: str | None) -> None:
    assert options_problem(markup, placeholders) == problem


def test_options_defaults() -> None:
    assert not markup_options(None, None).active
    assert markup_options("xml", ["printf", "printf"]).placeholders == ("printf",)
