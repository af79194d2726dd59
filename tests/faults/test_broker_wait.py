"""Processes that start while the broker is down wait for it (MTQ_BROKER_WAIT_S), then work.

The broker address is a loopback port where nothing listens (connection refused, as during a
broker restart) until the test opens a forwarder there to the local RabbitMQ. A real ``mtq
worker`` (tiny model) and a real ``mtq dispatcher`` are started first; they must stay alive and
not ready, log one line per attempt, and once the broker answers translate and deliver. With a
short wait they exit with one line instead, never a traceback.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.harness import (
    AMQP_HOST,
    TEST_SECRET,
    LoopbackReceiver,
    MtqProcess,
    TcpProxy,
    free_port,
    mtq_env,
    publish_jobs,
    wait_for,
)
from tests.integration.helpers import make_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ATTEMPT = re.compile(r"RabbitMQ at \S+ unreachable \(attempt (\d+): ")
BROKER_DOWN_S = 20  # how long the broker stays unreachable after the processes start


def via_port(amqp_url: str, port: int) -> str:
    parts = urlsplit(amqp_url)
    return urlunsplit(parts._replace(netloc=f"guest:guest@127.0.0.1:{port}"))


def attempts(process: MtqProcess) -> list[int]:
    return [int(number) for number in ATTEMPT.findall(process.log_text())]


def start(tmp_path: Path, env: dict[str, str]) -> list[MtqProcess]:
    processes = [MtqProcess([command], env, tmp_path / f"{command}.log")
                 for command in ("worker", "dispatcher")]
    for process in processes:
        process.start()
    return processes


def test_worker_and_dispatcher_started_before_the_broker_wait_for_it(
    amqp_url: str, tiny_model_path: Path, webhook_receiver: LoopbackReceiver, tmp_path: Path,
) -> None:
    port = free_port()
    env = mtq_env(via_port(amqp_url, port), tiny_model_path, webhook_receiver.port, TEST_SECRET,
                  MTQ_BROKER_WAIT_S="300", MTQ_RECONNECT_MAX_DELAY_S="2",
                  MTQ_THREAD_TUNING_S="0")
    processes = start(tmp_path, env)
    started = time.monotonic()
    try:
        wait_for(lambda: all(len(attempts(p)) >= 3 for p in processes), 180,
                 "three connection attempts by each process (the worker loads its model first)")
        for process in processes:  # alive, not ready
            health, ready = process.http("/healthz"), process.http("/readyz")
            assert process.alive() and health is not None and ready is not None
            assert (health[0], ready[0]) == (200, 503)
        time.sleep(max(0.0, BROKER_DOWN_S - (time.monotonic() - started)))
        assert all(process.alive() for process in processes)

        with TcpProxy((AMQP_HOST, 5672), port):
            wait_for(lambda: all(process.ready() for process in processes), 60,
                     "both processes to be ready once the broker answers")
            jobs = [make_job(f"late-{n}", ["Hello world.", "Good morning."],
                             webhook_receiver.url) for n in range(5)]
            publish_jobs(amqp_url, jobs)
            delivered = webhook_receiver.wait_for(len(jobs), 120)
            assert {hook.job_id for hook in delivered} == {job["job_id"] for job in jobs}
            assert {hook.json()["type"] for hook in delivered} == {"job.completed"}
            assert [process.stop(60) for process in processes] == [0, 0]
    finally:
        for process in processes:
            process.kill()
    for process in processes:
        log = process.log_text()
        assert "Traceback" not in log, log[-3000:]
        numbers = attempts(process)
        assert numbers == list(range(1, len(numbers) + 1))  # one line per attempt


def test_a_short_broker_wait_ends_in_one_line(tiny_model_path: Path, tmp_path: Path) -> None:
    env = mtq_env(f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F", tiny_model_path, 80,
                  TEST_SECRET, MTQ_BROKER_WAIT_S="3", MTQ_RECONNECT_MAX_DELAY_S="1",
                  MTQ_THREAD_TUNING_S="0")
    processes = start(tmp_path, env)
    try:
        codes = [process.wait(180) for process in processes]
    finally:
        for process in processes:
            process.kill()
    assert codes == [2, 2]
    for process in processes:
        lines = [line for line in process.log_text().splitlines() if line.strip()]
        assert "Traceback" not in process.log_text()
        assert len(attempts(process)) >= 2
        said = [line for line in lines if line.startswith("mtq:")]
        assert said == [lines[-1]], lines[-5:]
        assert said[0].startswith("mtq: no connection to RabbitMQ at amqp://127.0.0.1:")
        assert "within 3s (MTQ_BROKER_WAIT_S)" in said[0]
