"""The source's space next to a code is not copied between two units the model wrote together."""

from __future__ import annotations

from mtq.core.markup import mask, restore


def test_a_code_before_a_mark_the_model_attached_gets_no_space() -> None:
    masked = mask('the dog <x id="2"/>.', "xml")
    assert restore(masked, "lo bamon.").text == 'lo bamon<x id="2"/>.'


def test_a_code_between_cjk_characters_gets_no_space() -> None:
    masked = mask('open the <x id="1"/> file', "xml")
    text = restore(masked, "ファイル").text
    assert text.count('<x id="1"/>') == 1
    assert " " not in text.replace('<x id="1"/>', "")


def test_where_the_model_wrote_a_space_the_source_spacing_still_holds() -> None:
    masked = mask("Press <x/> to go", "html")
    assert restore(masked, "Drücken um zu gehen").text.count("<x/>") == 1
    assert "  " not in restore(masked, "Drücken um zu gehen").text
