"""mtq submit's pure parts: splitting, defaults, client-side validation."""

from __future__ import annotations

import json

import pytest

from mtq.client.submit import JobDefaults, jobs_from_jsonl, jobs_from_text, split_job, validate
from mtq.core.contract import JobLimits
from mtq.core.errors import ConfigError

DEFAULTS = JobDefaults("en", "de", "https://client.example/hooks/mt")


def test_text_input_is_split_into_parts_with_derived_ids() -> None:
    lines = [f"line {i}\n" for i in range(7)]
    jobs = jobs_from_text(lines, "order-1", DEFAULTS, max_segments=3)
    assert [j["job_id"] for j in jobs] == ["order-1.part-1", "order-1.part-2", "order-1.part-3"]
    assert [s for j in jobs for s in j["segments"]] == [f"line {i}" for i in range(7)]
    assert all(j["callback_url"] == DEFAULTS.callback_url for j in jobs)


def test_small_input_keeps_its_id_and_blank_lines() -> None:
    jobs = jobs_from_text(["a\n", "\n", "b\n"], "order-2", DEFAULTS, max_segments=10)
    assert len(jobs) == 1 and jobs[0]["job_id"] == "order-2"
    assert jobs[0]["segments"] == ["a", "", "b"]


def test_derived_ids_that_break_the_contract_are_refused() -> None:
    with pytest.raises(ConfigError, match="derived job id"):
        split_job({"job_id": "x" * 125, "segments": ["a", "b"]}, max_segments=1)


def test_jsonl_lines_take_defaults_and_report_bad_lines() -> None:
    lines = [json.dumps({"job_id": "j1", "segments": ["x"]}), "", json.dumps({"job_id": "j2",
             "segments": ["y"], "target_lang": "fr"})]
    jobs = list(jobs_from_jsonl(lines, DEFAULTS, max_segments=10))
    assert [j["target_lang"] for j in jobs] == ["de", "fr"]
    with pytest.raises(ConfigError, match="line 1: not JSON"):
        list(jobs_from_jsonl(["{oops"], DEFAULTS, max_segments=10))


def test_validation_names_the_job_and_the_problem() -> None:
    with pytest.raises(ConfigError, match=r"job 'j1'.*segments\[0\] has 11 characters"):
        validate(
            {"job_id": "j1", "segments": ["x" * 11], **DEFAULTS.__dict__, "options": {},
             "metadata": {}},
            JobLimits(max_segment_chars=10),
        )
