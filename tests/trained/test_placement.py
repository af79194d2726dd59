"""Codes land where the known alignment puts them, on the trained model, under both engines."""

from __future__ import annotations

from typing import Any

import pytest

from mtq.tools.placement import Case, cases, measure, place
from mtq.tools.synth_pair import dictionary

WORDS = dictionary()


def _constructed() -> list[Case]:
    """Adjectives follow nouns, the verb ends its clause: each code's words move."""
    def case(source: str, reference: str, markup: str = "html") -> Case:
        plain = " ".join(w for w in reference.split() if not w.startswith("<"))
        return Case(source, reference, plain, markup, ("curly", "printf"))

    w = WORDS
    return [
        case("the <b>big</b> dog sees a cat.",
             f"{w['the']} {w['dog']} <b>{w['big']}</b> {w['a']} {w['cat']} {w['sees']}."),
        case("my dog <b>sees</b> <i>a</i> cat.",
             f"{w['my']} {w['dog']} <i>{w['a']}</i> {w['cat']} <b>{w['sees']}</b>."),
        case("<b>the <i>old</i> king</b> sleeps in the house.",
             f"<b>{w['the']} {w['king']} <i>{w['old']}</i></b> {w['the']} {w['house']} "
             f"{w['in']} {w['sleeps']}."),
        case("the cat <br/>holds a red apple.",
             f"{w['the']} {w['cat']} {w['a']} {w['apple']} {w['red']} <br/>{w['holds']}."),
        case('the <g id="1">woman</g> finds <x id="2"/>a book.',
             f'{w["the"]} <g id="1">{w["woman"]}</g> <x id="2"/>{w["a"]} {w["book"]} '
             f'{w["finds"]}.', "xml"),
        case("the farmer{name} sells some milk.",
             f"{w['the']} {w['farmer']}{{name}} {w['some']} {w['milk']} {w['sells']}."),
    ]


@pytest.fixture(params=["hf", "ct2"])
def engine(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("trained_hf" if request.param == "hf" else "trained_ct2")


def test_constructed_segments_get_their_codes_exactly_where_the_alignment_says(
    engine: Any,
) -> None:
    batch = _constructed()
    assert place(engine, batch) == [c.reference for c in batch]


def test_placement_on_generated_segments_beats_the_monotone_baseline(engine: Any) -> None:
    batch = cases(40, seed=20_261_206)
    aligned, monotone = measure(engine, batch), measure(engine, batch, monotone=True)
    assert aligned.words_exact >= 36
    assert aligned.share() >= 0.9 > monotone.share()
