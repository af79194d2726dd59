"""The mtq console script against the real broker: topology, submit, dlq."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pika
import pytest

from mtq.core.headers import REASON_HEADER
from mtq.core.topology import DEAD_LETTER_EXCHANGE, dead_letter_queue
from tests.harness import queue_depth
from tests.integration.helpers import drain_queue

pytestmark = pytest.mark.integration


def mtq(amqp_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MTQ_AMQP_URL": amqp_url, "MTQ_MAX_JOB_SEGMENTS": "4"}
    return subprocess.run(
        [sys.executable, "-m", "mtq", "--log-level", "WARNING", *args],
        env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )


def test_topology_is_idempotent(amqp_url: str) -> None:
    for _ in range(2):
        result = mtq(amqp_url, "topology", "--routes", "en-de,en-fr")
        assert result.returncode == 0, result.stderr
    assert queue_depth(amqp_url, "mtq.jobs.en-fr") == 0
    assert queue_depth(amqp_url, "mtq.jobs.en-fr.dead") == 0
    assert queue_depth(amqp_url, "mtq.results.parked") == 0


def test_submit_splits_a_text_file_into_confirmed_parts(amqp_url: str, tmp_path: Path) -> None:
    assert mtq(amqp_url, "topology").returncode == 0
    text = tmp_path / "doc.txt"
    text.write_text("".join(f"Sentence number {i}.\n" for i in range(10)), encoding="utf-8")
    result = mtq(
        amqp_url, "submit", str(text), "--job-id", "doc-7", "--route", "en-de",
        "--callback-url", "https://client.example/hooks", "--beam-size", "2",
        "--metadata", '{"customer": 42}',
    )
    assert result.returncode == 0, result.stderr
    assert "published 3 jobs (10 segments)" in result.stdout
    jobs = [json.loads(body) for _, body in drain_queue(amqp_url, "mtq.jobs.en-de")]
    assert [j["job_id"] for j in jobs] == ["doc-7.part-1", "doc-7.part-2", "doc-7.part-3"]
    assert [s for j in jobs for s in j["segments"]] == [f"Sentence number {i}." for i in range(10)]
    assert all(j["options"] == {"beam_size": 2} and j["metadata"] == {"customer": 42}
               for j in jobs)


def test_submit_jsonl_from_stdin(amqp_url: str) -> None:
    assert mtq(amqp_url, "topology").returncode == 0
    lines = "\n".join(json.dumps({"job_id": f"j{i}", "segments": ["a", "b"]}) for i in range(3))
    result = mtq(amqp_url, "submit", "-", "--format", "jsonl", "--route", "en-de",
                 "--callback-url", "https://client.example/hooks", stdin=lines)
    assert result.returncode == 0, result.stderr
    assert queue_depth(amqp_url, "mtq.jobs.en-de") == 3


def test_unroutable_submit_is_an_error_not_silence(amqp_url: str, tmp_path: Path) -> None:
    assert mtq(amqp_url, "topology", "--routes", "en-de").returncode == 0
    text = tmp_path / "doc.txt"
    text.write_text("Bonjour.\n", encoding="utf-8")
    result = mtq(amqp_url, "submit", str(text), "--job-id", "fr-1", "--route", "fr-en",
                 "--callback-url", "https://client.example/hooks")
    assert result.returncode == 1
    assert "no queue serves fr-en" in result.stderr


def test_submit_reports_what_to_fix(amqp_url: str, tmp_path: Path) -> None:
    text = tmp_path / "doc.txt"
    text.write_text("x" * 3000 + "\n", encoding="utf-8")
    missing = mtq(amqp_url, "submit", str(text))
    assert missing.returncode == 2
    assert "a text input needs --job-id, --route, --callback-url" in missing.stderr
    too_long = mtq(amqp_url, "submit", str(text), "--job-id", "j", "--route", "en-de",
                   "--callback-url", "https://client.example/hooks")
    assert too_long.returncode == 2
    assert "segments[0] has 3000 characters" in too_long.stderr
    absent = mtq(amqp_url, "submit", str(tmp_path / "nope.txt"))
    assert absent.returncode == 2 and "does not exist" in absent.stderr


def test_unreachable_broker_says_how_to_start_one(tmp_path: Path) -> None:
    text = tmp_path / "doc.txt"
    text.write_text("Hello.\n", encoding="utf-8")
    result = mtq("amqp://guest:guest@127.0.0.1:1/%2F", "submit", str(text), "--job-id", "j",
                 "--route", "en-de", "--callback-url", "https://client.example/hooks")
    assert result.returncode == 2
    assert "rabbitmq-server -detached" in result.stderr


def test_dlq_list_and_redrive(amqp_url: str) -> None:
    assert mtq(amqp_url, "topology").returncode == 0
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    for reason in ("body is not JSON", "body is not JSON", "delivery_limit"):
        channel.basic_publish(
            DEAD_LETTER_EXCHANGE, dead_letter_queue("en-de"), b"{}",
            pika.BasicProperties(headers={REASON_HEADER: reason}), mandatory=True,
        )
    connection.close()
    listing = mtq(amqp_url, "dlq", "list", "--route", "en-de")
    assert listing.returncode == 0, listing.stderr
    assert "mtq.jobs.en-de.dead: 3 message(s)" in listing.stdout
    assert "2  body is not JSON" in listing.stdout
    assert queue_depth(amqp_url, dead_letter_queue("en-de")) == 3  # listing changed nothing
    redrive = mtq(amqp_url, "dlq", "redrive", "--route", "en-de", "--limit", "2")
    assert redrive.returncode == 0 and "redrove 2" in redrive.stdout
    assert queue_depth(amqp_url, "mtq.jobs.en-de") == 2
    assert queue_depth(amqp_url, dead_letter_queue("en-de")) == 1
