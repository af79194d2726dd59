"""Each guard on its constructed case, decoded by the HF engine on the tiny model and reviewed
as the worker reviews a finished job (worker/vouch/review.py)."""

from __future__ import annotations

from typing import Any

from mtq.core.contract import DecodeOptions, Job
from mtq.core.vouch import SuspectOptions
from tests.vouch.scripted import Force, Loop, Script, scripted
from worker.vouch.review import review

SOURCE = "Please restart the application before you continue working."
OPTIONS = DecodeOptions(beam_size=2, max_new_tokens=48)


def job(*segments: str, target: str = "de", min_confidence: float | None = None) -> Job:
    return Job("case", "en", target, segments, "http://127.0.0.1:9/hook", OPTIONS,
               vouch=SuspectOptions(min_confidence))


def reviewed(engine: Any, the_job: Job, options: DecodeOptions = OPTIONS,
             plan: dict[tuple[int, ...], Script] | None = None) -> dict[int, set[str]]:
    """The guard codes per segment of ``the_job`` translated by ``engine``."""
    sources = engine.encode(list(the_job.segments))
    with scripted(engine, plan or {}):
        rows = engine.generate_scored(sources, options)
    texts = engine.decode([row.tokens for row in rows])
    result = review(the_job, texts, [r.confidence for r in rows], [r.finished for r in rows],
                    None)
    found: dict[int, set[str]] = {i: set() for i in range(len(texts))}
    for warning in result.warnings:
        found[warning.segment].add(warning.code)
    return found


def words(engine: Any, text: str) -> tuple[int, ...]:
    """``text``'s token ids without the end of sentence (source and target share a vocabulary)."""
    return tuple(engine.encode([text])[0][:-1])


def test_a_token_cap_too_small_for_the_sentence_is_truncated(engine: Any) -> None:
    (source,) = engine.encode([SOURCE])
    complete = {tuple(source): Force(words(engine, "Bitte neu starten."))}
    short = DecodeOptions(beam_size=2, max_new_tokens=3)
    assert "truncated" in reviewed(engine, job(SOURCE), short, complete)[0]
    assert "truncated" not in reviewed(engine, job(SOURCE), OPTIONS, complete)[0]


def test_a_forced_loop_is_repetition(engine: Any) -> None:
    (source,) = engine.encode([SOURCE])
    loop = {tuple(source): Loop(words(engine, "Bitte neu"))}
    assert "repetition" in reviewed(engine, job(SOURCE), OPTIONS, loop)[0]


def test_copy_through_is_untranslated_only_between_different_languages(engine: Any) -> None:
    (source,) = engine.encode([SOURCE])
    copy = {tuple(source): Force(words(engine, SOURCE))}
    assert reviewed(engine, job(SOURCE), OPTIONS, copy)[0] == {"untranslated"}
    assert reviewed(engine, job(SOURCE, target="en-GB"), OPTIONS, copy)[0] == set()


def test_low_confidence_is_below_the_job_minimum(engine: Any) -> None:
    """The random model is unsure of everything (about 0.08 per token)."""
    assert "low_confidence" in reviewed(engine, job(SOURCE, min_confidence=0.5))[0]
    assert "low_confidence" not in reviewed(engine, job(SOURCE, min_confidence=0.01))[0]
    assert "low_confidence" not in reviewed(engine, job(SOURCE))[0]


def test_a_clean_output_has_no_warning_and_batch_mates_keep_theirs(engine: Any) -> None:
    clean_text = "Good morning to all of you."
    sources = engine.encode([SOURCE, clean_text])
    plan: dict[tuple[int, ...], Script] = {
        tuple(sources[0]): Force(words(engine, SOURCE)),
        tuple(sources[1]): Force(words(engine, "Guten Morgen euch allen.")),
    }
    found = reviewed(engine, job(SOURCE, clean_text, min_confidence=0.5), OPTIONS, plan)
    assert found == {0: {"untranslated"}, 1: set()}
