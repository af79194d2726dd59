"""The bad-input catalog: every case gets a clear answer, the worker keeps going.

One worker run (in-process, burst) takes the whole catalog, each bad message published between
two good jobs; then every case is checked on its own. A case is answered with ``job.failed``
and a documented code when its ``callback_url`` is usable, else it is dead-lettered with the
reason in ``x-mtq-reason``. Callbacks that the SSRF policy blocks without DNS (IP literals,
localhost, ports outside ``MTQ_WEBHOOK_ALLOW_PORTS``) are dead-lettered up front as
``blocked_destination: ...``, since the dispatcher would never deliver them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mtq.client.declare import declare_all
from mtq.core.contract import ErrorCode
from mtq.core.events import webhook_id
from mtq.core.settings import Settings
from tests.faults.conftest import DEAD_QUEUE, JOBS_QUEUE
from tests.harness import private_vhost, queue_depth
from tests.integration.helpers import drain_queue, drain_results, make_job, publish_raw
from worker.app import Worker
from worker.engines.hf import HFEngine

pytestmark = pytest.mark.integration
CALLBACK = "https://client.example/hooks/mt"
MAX_SEGMENTS = 8
MAX_METADATA = 256
MAX_JOB_TOKENS = 1000


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    code: ErrorCode | None = None  # job.failed with this code, or
    dead: str | None = None  # dead-lettered with a reason containing this
    says: str = ""  # and the error message contains this
    route: str = "en-de"


def job(name: str, **changes: Any) -> dict[str, Any]:
    body = make_job(f"bad-{name}", ["Hello world."], CALLBACK)
    for key, value in changes.items():
        if value is _DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return body


_DROP = object()


def encoded(name: str, **changes: Any) -> bytes:
    return json.dumps(job(name, **changes)).encode()


def failed(name: str, code: ErrorCode, says: str, **changes: Any) -> Case:
    return Case(name, encoded(name, **changes), code=code, says=says)


def dead(name: str, reason: str, body: bytes | None = None, **changes: Any) -> Case:
    return Case(name, body if body is not None else encoded(name, **changes), dead=reason)


def blocked(name: str, why: str, callback_url: str) -> Case:
    return dead(name, f"blocked_destination: {why}", callback_url=callback_url)


INVALID, TOO_LARGE = ErrorCode.INVALID_JOB, ErrorCode.JOB_TOO_LARGE
CASES = [
    # Not a job at all: nothing to answer, so dead-lettered with the reason.
    dead("not-json", "body is not JSON", b"this is not json {"),
    dead("json-array", "not an object", b"[1, 2, 3]"),
    dead("json-string", "not an object", b'"translate me"'),
    dead("json-null", "not an object", b"null"),
    dead("invalid-utf8", "not valid UTF-8", b'{"job_id": "\xff\xfe", "segments": ["x"]}'),
    dead("empty-body", "empty body", b""),
    dead("truncated-json", "body is not JSON", encoded("truncated")[:40]),
    # No usable callback: nobody to tell, so dead-lettered.
    dead("callback-missing", "callback_url is missing", callback_url=_DROP),
    dead("callback-not-a-string", "callback_url is missing or not a string", callback_url=42),
    dead("callback-ftp", "must use http or https", callback_url="ftp://client.example/x"),
    dead("callback-credentials", "must not carry credentials",
         callback_url="https://user:secret@client.example/hooks"),
    dead("callback-control-chars", "control characters", callback_url="https://c.example/\x00h"),
    dead("callback-no-host", "has no host", callback_url="https:///hooks"),
    dead("job-id-missing", "job_id is missing", job_id=_DROP),
    dead("job-id-not-a-string", "job_id is missing, not a string", job_id=1234),
    dead("job-id-huge", "longer than 1024", job_id="j" * 2000),
    # Callbacks the SSRF policy refuses without DNS: refused up front.
    blocked("callback-loopback", "127.0.0.1 is loopback", "http://127.0.0.1/hooks"),
    blocked("callback-localhost", "localhost names the local machine", "http://localhost/hooks"),
    blocked("callback-metadata-service", "169.254.169.254 is link-local",
            "http://169.254.169.254/latest/meta-data/"),
    blocked("callback-private", "10.1.2.3 is private", "https://10.1.2.3/hooks"),
    blocked("callback-ipv6-loopback", "::1 is loopback", "http://[::1]/hooks"),
    blocked("callback-odd-ipv4", "127.0.0.1 is loopback", "http://0x7f.1/hooks"),
    blocked("callback-port", "port 8443 is not allowed", "https://client.example:8443/hooks"),
    dead("invalid-and-blocked", "blocked_destination", callback_url="http://127.0.0.1/h",
         segments=[]),
    # A usable callback: job.failed with a documented code.
    failed("unknown-field", INVALID, "priority: unknown field", priority=5),
    failed("segments-missing", INVALID, "segments: required field is missing", segments=_DROP),
    failed("segments-null", INVALID, "segments", segments=None),
    failed("segments-not-a-list", INVALID, "segments", segments="Hello world."),
    failed("segment-not-a-string", INVALID, "segments.1", segments=["ok", 7]),
    failed("segment-null", INVALID, "segments.0", segments=[None]),
    failed("segments-empty", INVALID, "segments", segments=[]),
    failed("too-many-segments", TOO_LARGE, f"the limit is {MAX_SEGMENTS} per job",
           segments=["x"] * (MAX_SEGMENTS + 1)),
    failed("segment-over-char-limit", TOO_LARGE, "segments[0] has 2001 characters",
           segments=["y" * 2001]),
    failed("segment-over-token-limit", TOO_LARGE, "tokens; the model takes at most",
           segments=[" ".join("abcdefghij") * 99]),
    failed("job-over-token-limit", TOO_LARGE, f"source tokens; the limit is {MAX_JOB_TOKENS}",
           segments=[" ".join("abcdefghij") * 10] * MAX_SEGMENTS),
    failed("control-character", INVALID, "control character U+0007", segments=["a\x07b"]),
    failed("nul-byte", INVALID, "control character U+0000", segments=["a\x00b"]),
    failed("escape-character", INVALID, "control character U+001B", segments=["\x1b[31mred"]),
    failed("job-id-bad-chars", INVALID, "job_id", job_id="bad id/with spaces!"),
    failed("job-id-too-long", INVALID, "job_id", job_id="k" * 129),
    failed("route-mismatch", ErrorCode.UNSUPPORTED_LANGUAGE_PAIR, "en-fr is not served here",
           target_lang="fr"),
    failed("language-code-malformed", INVALID, "source_lang", source_lang="e n"),
    failed("language-not-a-string", INVALID, "target_lang", target_lang=["de"]),
    failed("beam-size-0", INVALID, "options.beam_size must be between 1 and",
           options={"beam_size": 0}),
    failed("beam-size-1000", INVALID, "options.beam_size must be between 1 and",
           options={"beam_size": 1000}),
    failed("beam-size-string", INVALID, "options.beam_size", options={"beam_size": "4"}),
    failed("max-new-tokens-negative", INVALID, "options.max_new_tokens must be between",
           options={"max_new_tokens": -5}),
    failed("max-new-tokens-huge", INVALID, "options.max_new_tokens must be between",
           options={"max_new_tokens": 10**12}),
    failed("options-unknown", INVALID, "options.temperature: unknown field",
           options={"temperature": 0.7}),
    failed("options-not-an-object", INVALID, "options", options=[4]),
    failed("metadata-too-large", INVALID, f"the limit is {MAX_METADATA}",
           metadata={"blob": "z" * (MAX_METADATA + 10)}),
    failed("metadata-not-an-object", INVALID, "metadata", metadata=["a", "b"]),
]
GOOD_EDGE_CASES = {
    "good-whitespace-only": make_job("good-whitespace-only", ["   ", ""], CALLBACK),
    "good-unicode": make_job("good-unicode", ["Grüße, 世界 🌍", "tab\tand\nnewline"], CALLBACK),
}


@dataclass
class CatalogRun:
    events: list[tuple[dict[str, Any], dict[str, Any]]]  # (headers, event) from mtq.results
    dead: list[tuple[dict[str, Any], bytes]]
    left_in_queue: int
    good: list[str]

    def events_of(self, job_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(h, e) for h, e in self.events if e["job_id"] == job_id]


@pytest.fixture(scope="module")
def catalog(tiny_model_path: Path) -> Iterator[CatalogRun]:
    with private_vhost("mtq-test-bad-input") as (amqp_url, _):
        settings = Settings(
            amqp_url=amqp_url, model=str(tiny_model_path), routes=("en-de",), metrics_port=0,
            batch_max_wait_ms=5, max_job_segments=MAX_SEGMENTS, max_metadata_bytes=MAX_METADATA,
            max_job_tokens=MAX_JOB_TOKENS,
        )
        asyncio.run(declare_all(settings))
        bodies: list[bytes] = []
        good: list[str] = []
        for number, case in enumerate(CASES):
            good.append(f"good-{number}")
            bodies.append(json.dumps(make_job(good[-1], ["Good morning."], CALLBACK)).encode())
            bodies.append(case.body)
        bodies += [json.dumps(body).encode() for body in GOOD_EDGE_CASES.values()]
        duplicate = json.dumps(make_job("dup-1", ["Same job twice."], CALLBACK)).encode()
        bodies += [duplicate, duplicate, json.dumps(make_job("good-last", ["Bye."], CALLBACK))
                   .encode()]
        publish_raw(amqp_url, bodies)
        code = asyncio.run(Worker(settings, HFEngine(settings)).run(burst=True, health=False))
        assert code == 0
        events = [(h, json.loads(b)) for h, b in drain_results(amqp_url)]
        yield CatalogRun(
            events=events, dead=drain_queue(amqp_url, DEAD_QUEUE),
            left_in_queue=queue_depth(amqp_url, JOBS_QUEUE),
            good=[*good, *GOOD_EDGE_CASES, "dup-1", "good-last"],
        )


def test_the_catalog_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_bad_message_gets_a_clear_answer(catalog: CatalogRun, case: Case) -> None:
    job_id = f"bad-{case.name}"
    if case.code is not None:
        job_id = json.loads(case.body)["job_id"]  # the id the answer is for, however odd
        answers = catalog.events_of(job_id)
        assert len(answers) == 1, f"{job_id}: {answers}"
        headers, event = answers[0]
        assert event["type"] == "job.failed"
        assert event["error"]["code"] == case.code.value
        assert case.says in event["error"]["message"], event["error"]["message"]
        assert headers["x-mtq-webhook-id"] == webhook_id(job_id, "job.failed")
        if not case.name.startswith("metadata-"):
            assert event["metadata"] == {"job": f"bad-{case.name}"}  # echoed back
        assert headers["x-mtq-callback-url"] == CALLBACK
    else:
        assert case.dead is not None
        matches = [h for h, body in catalog.dead if body == case.body]
        assert len(matches) == 1, f"{case.name} not dead-lettered exactly once"
        assert case.dead in matches[0]["x-mtq-reason"], matches[0]["x-mtq-reason"]
        assert not catalog.events_of(job_id)


def test_the_good_jobs_around_them_complete_and_nothing_is_left(catalog: CatalogRun) -> None:
    for job_id in catalog.good:
        kinds = {e["type"] for _, e in catalog.events_of(job_id)}
        assert kinds == {"job.completed"}, (job_id, kinds)
    assert catalog.left_in_queue == 0
    assert len(catalog.dead) == sum(1 for case in CASES if case.dead is not None)


def test_a_duplicate_job_id_is_processed_again_with_the_same_webhook_id(
    catalog: CatalogRun,
) -> None:
    answers = catalog.events_of("dup-1")
    assert len(answers) == 2
    assert {h["x-mtq-webhook-id"] for h, _ in answers} == {webhook_id("dup-1", "job.completed")}
    assert answers[0][1]["translations"] == answers[1][1]["translations"]


def test_edge_cases_that_are_valid_are_translated(catalog: CatalogRun) -> None:
    (_, blank), = catalog.events_of("good-whitespace-only")
    assert blank["translations"] == ["", ""]
    (_, unicode_job), = catalog.events_of("good-unicode")
    assert len(unicode_job["translations"]) == 2
