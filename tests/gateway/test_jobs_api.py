"""Jobs API v1 against the real stack: lifecycle, idempotency, tenants, errors, cancel,
progress and cancelled events from the feed, and a restart that keeps every job."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from gateway.broker import FEED_QUEUE
from gateway.keys import key_hash
from tests.gateway.amqp import control_messages, control_queue, publish_event
from tests.gateway.conftest import DATABASE_URL, Stack
from tests.harness import queue_depth, wait_for

SEGMENTS = ["Hello world.", "How are you?", "The weather is fine."]


def job(job_id: str, route: tuple[str, str] = ("en", "de"), **extra: object) -> dict[str, object]:
    return {"job_id": job_id, "source_lang": route[0], "target_lang": route[1],
            "segments": SEGMENTS, "options": {"max_new_tokens": 16}, **extra}


def test_a_job_runs_to_completed_and_a_repeat_is_the_same_job(stack: Stack) -> None:
    key = stack.keys["acme"]
    status, body, _ = stack.request("POST", "/v1/jobs", job("life-1"), key=key)
    assert status == 202, body
    assert (body["status"], body["tenant"], body["segments"], body["done"]) == (
        "queued", "acme", 3, 0)
    final = stack.wait_status("life-1", key, ("completed",))
    assert final["done"] == 3 and final["finished_at"] and final["started_at"]
    event = final["event"]
    assert event["type"] == "job.completed" and event["tenant"] == "acme"
    assert len(event["translations"]) == 3
    # The same request again: the same job, not a second one.
    status, again, _ = stack.request("POST", "/v1/jobs", job("life-1"), key=key)
    assert status == 202 and again["created_at"] == body["created_at"]
    assert again["status"] == "completed"
    # The same id with another body is a conflict; another tenant's id space is its own.
    status, conflict, _ = stack.request("POST", "/v1/jobs", job("life-1", metadata={"v": 2}),
                                        key=key)
    assert status == 409 and conflict["error"]["code"] == "job_id_conflict"
    other = stack.keys["globex"]
    assert stack.request("GET", "/v1/jobs/life-1", key=other)[0] == 404
    status, theirs, _ = stack.request("POST", "/v1/jobs", job("life-1"), key=other)
    assert status == 202 and theirs["tenant"] == "globex"


def test_keys_are_required_and_checked(stack: Stack) -> None:
    status, body, _ = stack.request("GET", "/v1/jobs/x")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body, _ = stack.request("GET", "/v1/jobs/x", key="mtqk_not-a-key")
    assert status == 403 and body["error"]["message"] == "the API key is not valid"
    status, body, _ = stack.request("GET", "/v2/languages",
                                    headers={"Authorization": "DeepL-Auth-Key nope"})
    assert status == 403 and set(body) == {"message"}


def test_bad_jobs_get_one_clear_line(stack: Stack) -> None:
    key = stack.keys["acme"]
    status, body, _ = stack.request("POST", "/v1/jobs", job("bad-1", options={"beam_size": 99}),
                                    key=key)
    assert status == 400 and body["error"] == {
        "code": "invalid_job", "message": "options.beam_size must be between 1 and 8"}
    status, body, _ = stack.request("POST", "/v1/jobs", job("bad-2", ("en", "xx")), key=key)
    assert status == 400 and body["error"]["code"] == "unsupported_language_pair"
    status, body, _ = stack.request("POST", "/v1/jobs", {**job("bad-3"), "segments": ["a"] * 600},
                                    key=key)
    assert status == 413 and body["error"]["code"] == "job_too_large"
    status, body, _ = stack.request("POST", "/v1/jobs", {"job_id": "bad-4"}, key=key)
    assert status == 400 and "\n" not in body["error"]["message"]
    status, body, _ = stack.request("POST", "/v1/jobs", job("bad 5"), key=key)
    assert status == 400 and body["error"]["message"].startswith("job_id:")


def test_cancel_progress_and_cancelled_events(stack: Stack) -> None:
    key = stack.keys["acme"]
    control = control_queue(stack.amqp_url)
    # en-fr has a queue and no worker: the job waits there.
    assert stack.request("POST", "/v1/jobs", job("cancel-1", ("en", "fr")), key=key)[0] == 202
    publish_event(stack.amqp_url, {"type": "job.progress", "job_id": "cancel-1",
                                   "tenant": "acme", "done": 2, "total": 3})
    running = stack.wait_status("cancel-1", key, ("running",))
    assert running["done"] == 2
    publish_event(stack.amqp_url, {"type": "job.progress", "job_id": "cancel-1",
                                   "tenant": "acme", "done": 1, "total": 3})
    status, body, _ = stack.request("DELETE", "/v1/jobs/cancel-1", key=key)
    assert status == 202 and body["status"] == "cancelling" and body["done"] == 2
    assert body["cancel_requested_at"]
    assert control_messages(stack.amqp_url, control) == [
        {"type": "job.cancel", "job_id": "cancel-1", "tenant": "acme"}]
    publish_event(stack.amqp_url, {"type": "job.cancelled", "job_id": "cancel-1",
                                   "tenant": "acme", "translations": ["Bonjour", None, None]})
    final = stack.wait_status("cancel-1", key, ("cancelled",))
    assert final["done"] == 1 and final["event"]["translations"] == ["Bonjour", None, None]
    # A finished job stays as it is, and no cancel is sent for it.
    status, body, _ = stack.request("DELETE", "/v1/jobs/cancel-1", key=key)
    assert status == 202 and body["status"] == "cancelled"
    assert stack.request("DELETE", "/v1/jobs/nope", key=key)[0] == 404
    assert control_messages(stack.amqp_url, control) == []


def test_delete_cancels_a_running_job_on_the_real_worker(stack: Stack) -> None:
    key = stack.keys["acme"]
    long_job = {**job("cancel-real"), "segments": [f"Line {n} of the manual." for n in range(48)],
                "options": {}}
    assert stack.request("POST", "/v1/jobs", long_job, key=key)[0] == 202
    running = stack.wait_status("cancel-real", key, ("running",))  # its first progress event
    assert 0 < running["done"] < 48
    status, body, _ = stack.request("DELETE", "/v1/jobs/cancel-real", key=key)
    assert status == 202 and body["status"] in ("cancelling", "completed")
    final = stack.wait_status("cancel-real", key, ("cancelled",))
    translations = final["event"]["translations"]
    assert len(translations) == 48 and translations[-1] is None
    done = sum(1 for t in translations if t is not None)
    assert running["done"] <= done == final["done"] < 48


def test_a_restarted_gateway_keeps_every_job_and_catches_up(stack: Stack) -> None:
    key = stack.keys["globex"]
    completed = 'mtq_jobs_total{outcome="completed"}'
    before = stack.worker.metric(completed) or 0
    # Long enough (24 segments of up to 256 tokens) to outlast the gateway's stop.
    long_job = {**job("restart-1"), "segments": [f"Sentence number {n}." for n in range(24)],
                "options": {}}
    assert stack.request("POST", "/v1/jobs", long_job, key=key)[0] == 202
    assert stack.gateway.stop(30) == 0
    # The worker finishes the job while no gateway runs: its event waits in the gateway's
    # queue.
    wait_for(lambda: (stack.worker.metric(completed) or 0) > before, 60, "the job done")
    wait_for(lambda: queue_depth(stack.amqp_url, FEED_QUEUE) > 0, 10, "the event queued")
    stack.gateway.start()
    wait_for(stack.ready, 60, "the gateway ready again")
    final = stack.wait_status("restart-1", key, ("completed",))
    assert len(final["event"]["translations"]) == 24 and final["done"] == 24
    status, earlier, _ = stack.request("GET", "/v1/jobs/life-1", key=stack.keys["acme"])
    assert status == 200 and earlier["status"] == "completed"


def test_mtq_keys_create_prints_a_key_and_stores_only_its_hash(stack: Stack) -> None:
    env = {**os.environ, "MTQ_DATABASE_URL": DATABASE_URL, "MTQ_GATEWAY_DB_SCHEMA": stack.schema}
    made = subprocess.run([sys.executable, "-m", "mtq", "keys", "create", "--tenant", "cli-t"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("mtqk_") and len(key) > 40
    assert stack.request("GET", "/v1/languages", key=key)[0] == 200
    with psycopg.connect(DATABASE_URL) as conn:
        stored = conn.execute(f"SELECT * FROM {stack.schema}.api_keys").fetchall()
    assert key not in repr(stored) and key_hash(key) in repr(stored)
    bad = subprocess.run([sys.executable, "-m", "mtq", "keys", "create", "--tenant", "a b"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert "--tenant 'a b'" in bad.stderr


def test_a_gateway_without_its_broker_waits_then_stops_in_one_line(stack: Stack) -> None:
    env = {**os.environ, "MTQ_DATABASE_URL": DATABASE_URL, "MTQ_GATEWAY_DB_SCHEMA": stack.schema,
           "MTQ_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2F", "MTQ_BROKER_WAIT_S": "1",
           "MTQ_GATEWAY_PORT": "0"}
    ran = subprocess.run([sys.executable, "-m", "mtq", "gateway"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2
    assert "Traceback" not in ran.stderr
    assert ran.stderr.splitlines()[-1].startswith("mtq: no connection to RabbitMQ at "
                                                  "amqp://127.0.0.1:1/%2F within 1s")
