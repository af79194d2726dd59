"""The pure parts: each guard on constructed text, the length calibration, the confidence
number, the options and the cache entry format."""

from __future__ import annotations

import math
import random

import pytest

from mtq.core.vouch import Checked, LengthCalibration, check_segment, confidence_of, suspect_problem
from mtq.core.vouch.guards import copy_similarity, trailing_loop
from mtq.core.vouch.length import MIN_SAMPLES
from worker.cache.entries import CachedTranslation, decode_entry, encode_entry
from worker.vouch.review import languages_differ


def codes(source: str, output: str, *, confidence: float = 0.9, finished: bool = True,
          differ: bool = True, bounds: tuple[float, float] | None = None,
          min_confidence: float | None = None) -> list[str]:
    found = check_segment(Checked(source, output, confidence, finished), languages_differ=differ,
                          length_bounds=bounds, min_confidence=min_confidence)
    return [f.code for f in found]


def test_a_clean_translation_has_no_finding() -> None:
    assert codes("The cat sleeps on the mat.", "Die Katze schläft auf der Matte.") == []


def test_truncated_is_decoding_stopped_at_the_cap() -> None:
    assert codes("The cat sleeps on the mat.", "Die Katze", finished=False) == ["truncated"]


@pytest.mark.parametrize("output", [
    "Die Katze ay ay ay ay ay ay ay",
    "Die Katze schläft schläft schläft schläft",
    "la la la la la la la la la l",  # cut off mid-piece by the token cap
    "!!!!!!!!!!!!!!!!!!!!",
])
def test_repetition_is_an_output_ending_in_a_loop(output: str) -> None:
    assert codes("The cat sleeps on the mat.", output) == ["repetition"]


@pytest.mark.parametrize("output", [
    "Ha ha ha, sagte sie.", "Sehr, sehr, sehr gut.", "ha ha ha", "Nein, nein!",
    "Zeile 1 2 3 4 5 6 7 8 9 10",
])
def test_ordinary_repeats_are_not_loops(output: str) -> None:
    assert trailing_loop(output) is None


def test_untranslated_is_the_source_back_on_a_pair_whose_languages_differ() -> None:
    source = "Please restart the application now."
    assert codes(source, source) == ["untranslated"]
    assert codes(source, "please restart the application now!") == ["untranslated"]
    assert codes(source, "Please restart the aplication now.") == ["untranslated"]  # nearly
    assert codes(source, source, differ=False) == []  # en-US to en-GB may copy
    for name in ("iPhone 15", "Microsoft Office 365"):  # a name may rightly be copied
        assert codes(name, name) == []
    assert copy_similarity(source, "Bitte starten Sie die Anwendung jetzt neu.") < 0.9


def test_length_ratio_is_outside_the_calibrated_bounds() -> None:
    source = "The cat sleeps on the mat."
    assert codes(source, "Die Katze schläft.", bounds=(0.8, 1.5)) == ["length_ratio"]
    assert codes(source, "Die Katze schläft auf der Matte.", bounds=(0.8, 1.5)) == []
    assert codes(source, "Die Katze schläft.", bounds=None) == []  # not calibrated yet


def test_low_confidence_only_below_the_job_minimum() -> None:
    pair = ("The cat sleeps on the mat.", "Die Katze schläft auf der Matte.")
    assert codes(*pair, confidence=0.3, min_confidence=0.5) == ["low_confidence"]
    assert codes(*pair, confidence=0.3, min_confidence=0.2) == []
    assert codes(*pair, confidence=0.3) == []


def test_length_bounds_follow_the_model_outputs_for_a_pair() -> None:
    calibration = LengthCalibration()
    rng = random.Random(3)
    key = ("model", "en-de")
    source = "x" * 40
    for n in range(MIN_SAMPLES):
        assert calibration.bounds(key) is None, n
        calibration.observe(key, source, "y" * int(40 * rng.uniform(1.1, 1.3)))
    low, high = calibration.bounds(key) or (0.0, 0.0)
    assert low < 1.1 and high > 1.3  # every usual ratio is inside
    assert low > 0.3 and high < 4.0  # a third or four times the usual length is not
    assert calibration.bounds(("model", "en-fr")) is None  # per pair
    calibration.observe(("model", "en-fr"), "short", "kurz")  # too short to count
    assert calibration.bounds(("model", "en-fr")) is None


def test_confidence_is_a_float32_in_zero_one() -> None:
    value = confidence_of(-97.43, 39)
    assert value == pytest.approx(math.exp(-97.43 / 39), abs=1e-7)
    assert str(value) == "0.08223246"  # the shortest digits of its float32
    assert confidence_of(0.0, 0) == 1.0 and confidence_of(-1e9, 2) == 0.0
    assert confidence_of(0.5, 3) == 1.0  # never above 1, whatever a processor did


@pytest.mark.parametrize(("min_confidence", "on_suspect", "problem"), [
    (0.5, "flag", None), (0, "retry", None), (1, None, None), (None, None, None),
    (1.5, None, "options.min_confidence must be a number between 0 and 1"),
    (-0.1, None, "options.min_confidence must be a number between 0 and 1"),
    (True, None, "options.min_confidence must be a number between 0 and 1"),
    (None, "drop", "options.on_suspect must be one of flag, retry"),
])
def test_suspect_options_are_validated(
    min_confidence: object, on_suspect: object, problem: str | None
) -> None:
    assert suspect_problem(min_confidence, on_suspect) == problem


def test_languages_differ_on_the_primary_language() -> None:
    assert languages_differ("en", "de") and languages_differ("zh_Hant", "en")
    assert not languages_differ("en-US", "en-GB") and not languages_differ("pt_BR", "pt")


def test_a_cache_entry_keeps_the_confidence_and_an_old_one_is_a_miss() -> None:
    entry = CachedTranslation("Grüße \x1e\n", 0.8125, False)
    assert decode_entry(encode_entry(entry)) == entry
    assert decode_entry("Hallo Welt") is None  # written before confidence existed
    for damaged in (encode_entry(entry)[:-2], "\x1emtq2:{\"t\":\"x\",\"c\":2,\"f\":true}",
                    "\x1emtq2:[1]"):
        assert decode_entry(damaged) is None


def test_the_guard_options_do_not_split_the_cache() -> None:
    from mtq.core.contract import DecodeOptions, Job
    from mtq.core.events import ModelInfo
    from mtq.core.vouch import SuspectOptions
    from worker.cache.keys import CacheScope

    def key(vouch: SuspectOptions) -> bytes:
        job = Job("j", "en", "de", ("x",), "http://h/", DecodeOptions(2, 8), vouch=vouch)
        return CacheScope.for_job(ModelInfo("m", "r"), job).digest()

    assert key(SuspectOptions()) == key(SuspectOptions(0.7, "retry"))
