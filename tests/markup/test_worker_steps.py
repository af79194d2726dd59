"""The worker's markup steps: what the model reads, and a job's translations restored."""

from __future__ import annotations

import json

from mtq.core.contract import Job, JobLimits, parse_job
from worker.lifecycle.markup_steps import model_texts, restore_job


def _job(segments: list[str], **options: object) -> Job:
    return parse_job(json.dumps({
        "job_id": "j", "source_lang": "en", "target_lang": "de", "segments": segments,
        "callback_url": "https://client.example/h", "options": options,
    }).encode(), JobLimits())


def _no_decode(ids: object) -> str:
    raise AssertionError("no attention given, so nothing is decoded")


def test_plain_jobs_are_untouched() -> None:
    job = _job(["Hello <b>world</b>", " "])
    assert model_texts(job) == ["Hello <b>world</b>", " "]
    restored = restore_job(job, ["Hallo <b>Welt</b>", ""], [[1], None], {}, _no_decode)
    assert restored.translations == ("Hallo <b>Welt</b>", "")
    assert restored.warnings == ()


def test_markup_jobs_are_masked_and_restored_with_indexed_warnings() -> None:
    job = _job(["Hello <b>world</b>", "  ", "Broken <i>tag"], markup="html")
    assert model_texts(job) == ["Hello world", "", "Broken tag"]
    translations = ["Hallo Welt", "", "Kaputt Tag"]
    restored = restore_job(job, translations, [[1], [], [1]], {}, _no_decode)
    assert restored.translations == ("Hallo <b>Welt</b>", "", "Kaputt <i>Tag")
    assert [(w.segment, w.code) for w in restored.warnings] == [(2, "markup_unbalanced")]


def test_answered_segments_are_checked_not_restored_again() -> None:
    job = _job(["Hello <b>world</b>", "Broken <i>tag"], markup="html")
    cached = ["Hallo <b>Welt</b>", "Kaputt <i>Tag"]
    restored = restore_job(job, cached, [None, None], {}, _no_decode, answered={0, 1})
    assert restored.translations == tuple(cached)
    assert [(w.segment, w.code) for w in restored.warnings] == [(1, "markup_unbalanced")]
