"""Alignment helpers: token spans, argmax links, and placement that follows them."""

from __future__ import annotations

from collections.abc import Sequence

from mtq.core.markup import mask, restore, token_links, token_spans

_VOCAB = ["", "▁the", "▁red", "▁car", "▁la", "▁voiture", "▁rouge", "."]


def _decode(rows: Sequence[Sequence[int]]) -> list[str]:
    return ["".join(_VOCAB[i] for i in ids).replace("▁", " ").strip() for ids in rows]


def test_token_spans_find_each_token_in_the_text() -> None:
    spans = token_spans(_decode, [1, 2, 3, 7, 0], "the red car.")
    assert spans == [(0, 3), (4, 7), (8, 11), (11, 12), None]


def test_token_spans_skip_what_the_text_does_not_hold() -> None:
    # "voiture" was normalized away: no span, and the tokens after it are still found.
    spans = token_spans(_decode, [4, 5, 6], "la  car rouge")
    assert spans == [(0, 2), None, (8, 13)]


def test_token_links_take_the_strongest_source_token() -> None:
    attention = [[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]]
    links = token_links(attention, [(0, 3), (4, 7), None], [(0, 5), (6, 9)])
    assert links == [((4, 7), (0, 5)), ((0, 3), (6, 9))]


def test_pairs_follow_a_reordering_alignment() -> None:
    masked = mask("the <b>red</b> <i>car</i>", "html")
    target = "la voiture rouge"
    alignment = [((0, 3), (0, 2)), ((4, 7), (11, 16)), ((8, 11), (3, 10))]
    result = restore(masked, target, alignment)
    assert result.aligned
    assert result.text == "la <i>voiture</i> <b>rouge</b>"


def test_an_inconsistent_alignment_falls_back_to_the_monotone_map() -> None:
    # "red" is aligned to both ends of the target, so <b> would overlap its sibling <i>.
    masked = mask("the <b>red</b> <i>car</i> now", "html")
    target = "la voiture rouge maintenant"
    alignment = [((4, 7), (0, 2)), ((4, 7), (11, 16)), ((8, 11), (3, 10)),
                 ((12, 15), (17, 27))]
    result = restore(masked, target, alignment)
    assert not result.aligned
    assert result.warnings == ()
    assert result.text.index("</b>") < result.text.index("<i>")


def test_standalone_codes_follow_their_neighbour() -> None:
    masked = mask('Press <x id="1"/>Enter now', "xml")
    alignment = [((0, 5), (10, 17)), ((6, 11), (0, 6)), ((12, 15), (18, 28))]
    result = restore(masked, "Entrée et appuyez maintenant", alignment)
    assert result.aligned
    assert result.text == '<x id="1"/>Entrée et appuyez maintenant'
