"""``python -m mtq dispatcher`` as a real process: kill -9 mid-ladder loses nothing; SIGTERM
drains and exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from mtq.core.events import webhook_id
from mtq.core.topology import PARKED_QUEUE, RESULTS_QUEUE, retry_queue
from tests.harness import free_port
from tests.webhooks.whtest import (
    SECRET,
    Reply,
    Seen,
    broker,
    counts,
    endpoint,
    wait_sync,
)

pytestmark = [pytest.mark.integration, pytest.mark.fault]

SCHEDULE = (1, 2, 4, 8)  # long enough that nothing is parked before the kill
REPO = Path(__file__).resolve().parents[2]


@contextmanager
def dispatcher_process(amqp_url: str, port: int, log: Path, metrics_port: int = 0
                       ) -> Iterator[subprocess.Popen[bytes]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MTQ_")}
    env.update({
        "MTQ_AMQP_URL": amqp_url,
        "MTQ_WEBHOOK_SECRET": SECRET,
        "MTQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
        "MTQ_WEBHOOK_ALLOW_PORTS": f"80 443 {port}",
        "MTQ_WEBHOOK_RETRY_SCHEDULE_S": " ".join(map(str, SCHEDULE)),
        "MTQ_WEBHOOK_QUICK_RETRIES": "0",
        "MTQ_WEBHOOK_TIMEOUT_S": "2",
        "MTQ_WEBHOOK_CONNECT_TIMEOUT_S": "1",
        "MTQ_DRAIN_TIMEOUT_S": "10",
        "MTQ_METRICS_PORT": str(metrics_port),
    })
    with log.open("ab") as sink:
        process = subprocess.Popen([sys.executable, "-m", "mtq", "dispatcher"], cwd=REPO,
                                   env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def _publish(amqp_url: str, url: str, jobs: list[str]) -> None:
    async with broker(amqp_url, SCHEDULE) as b:
        for job in jobs:
            await b.publish(job, url)


def test_kill_9_mid_ladder_then_restart_delivers_everything(amqp_url: str,
                                                            tmp_path: Path) -> None:
    healthy = threading.Event()

    def behaviour(_seen: Seen, _n: int) -> Reply:
        # Failing answers are slow, so some deliveries are in flight when the kill lands.
        return Reply(status=204) if healthy.is_set() else Reply(status=503, delay_s=0.3)

    jobs = [f"kill-{n:02d}" for n in range(20)]
    queues = (RESULTS_QUEUE, *(retry_queue(s) for s in SCHEDULE))
    log = tmp_path / "dispatcher.log"
    with endpoint(behaviour=behaviour) as server:
        asyncio.run(_publish(amqp_url, server.url, jobs))
        with dispatcher_process(amqp_url, server.port, log) as first:
            # Every event has failed once, and some are on their second attempt.
            wait_sync(lambda: len({s.job_id for s in server.seen()}) == 20
                      and len(server.seen()) >= 24, 30, "first attempts")
            first.send_signal(signal.SIGKILL)
            assert first.wait(10) == -signal.SIGKILL
        # With no dispatcher, all 20 are back in the broker: in-flight ones requeued, the rest
        # waiting in (or dead-lettered out of) the ladder.
        wait_sync(lambda: sum(counts(amqp_url, *queues).values()) == 20, 10,
                  "all 20 events back in the broker")
        assert counts(amqp_url, PARKED_QUEUE)[PARKED_QUEUE] == 0
        assert server.delivered() == []
        healthy.set()
        with dispatcher_process(amqp_url, server.port, log) as second:
            wait_sync(lambda: {s.job_id for s in server.delivered()} == set(jobs), 40,
                      "every event delivered after the restart")
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0, log.read_text()
        assert counts(amqp_url, PARKED_QUEUE, *queues) == dict.fromkeys((PARKED_QUEUE, *queues), 0)
        for request in server.delivered():
            Webhook(SECRET).verify(request.body, request.headers)


def test_sigterm_finishes_the_delivery_in_flight_and_exits_0(amqp_url: str,
                                                              tmp_path: Path) -> None:
    log = tmp_path / "dispatcher.log"
    probes = free_port()
    with endpoint(behaviour=lambda _s, _n: Reply(status=200, delay_s=1.0)) as server:
        with dispatcher_process(amqp_url, server.port, log, probes) as process:
            wait_sync(lambda: _probe(probes, "/readyz") == 200, 20, "readiness")
            assert _probe(probes, "/healthz") == 200
            asyncio.run(_publish(amqp_url, server.url, ["term-1"]))
            wait_sync(lambda: len(server.seen()) == 1, 20, "the delivery to start")
            with urllib.request.urlopen(f"http://127.0.0.1:{probes}/metrics", timeout=5) as r:
                assert b"mtq_webhook_in_flight 1.0" in r.read()
            process.send_signal(signal.SIGTERM)
            assert process.wait(20) == 0, log.read_text()
        assert [s.job_id for s in server.delivered()] == ["term-1"]
        assert counts(amqp_url, RESULTS_QUEUE)[RESULTS_QUEUE] == 0  # acked, not requeued
        assert "draining 1 in-flight" in log.read_text()


def _probe(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0  # not listening yet


def _close_dispatcher_connections(vhost: str) -> int:
    """Have the broker close this test's dispatcher connection, like a broker restart would."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "vhost", "client_properties"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    closed = 0
    for line in listing.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[1] == vhost and "mtq-dispatcher@" in fields[2]:
            subprocess.run(["rabbitmqctl", "-q", "close_connection", fields[0], "test"],
                           check=True, capture_output=True, timeout=30)
            closed += 1
    return closed


async def test_lost_connection_mid_delivery_is_redelivered_not_a_crash(amqp_url: str) -> None:
    from urllib.parse import unquote

    from tests.webhooks.whtest import dispatching, eventually, settings_for

    vhost = unquote(amqp_url.rsplit("/", 1)[1])
    release = threading.Event()

    def behaviour(_seen: Seen, n: int) -> Reply:
        if n == 1:  # the first delivery is answered only after the connection is gone
            release.wait(10)
        return Reply(status=200)

    jobs = ["conn-1", "conn-2", "conn-3"]
    with endpoint(behaviour=behaviour) as server:
        # A timeout longer than the hold: the first attempt ends in a 200, never on the ladder.
        settings = settings_for(f"{amqp_url}?reconnect_interval=0.5", server.port,
                                webhook_timeout_s=30.0)
        async with broker(amqp_url, (1, 2)) as b, dispatching(settings) as task:
            for job in jobs:
                await b.publish(job, server.url)
            # A new host's window starts at one delivery: one in flight, two waiting unacked.
            await eventually(lambda: len(server.seen()) == 1, what="a delivery in flight")
            assert await asyncio.to_thread(_close_dispatcher_connections, vhost) == 1
            release.set()  # the 200 arrives, but its ack can no longer be sent
            # The broker redelivers all three; the reconnected consumer delivers them (same ids).
            await eventually(
                lambda: {s.job_id for s in server.delivered()} == set(jobs)
                and sum(s.job_id == "conn-1" for s in server.seen()) >= 2,
                30, "every job delivered, the first one again",
            )

            async def drained() -> bool:
                return await b.count(RESULTS_QUEUE) == 0
            await eventually(drained, 30, "an empty results queue")
            assert not task.done()
        by_job = {job: {s.headers["webhook-id"] for s in server.delivered() if s.job_id == job}
                  for job in jobs}
        assert all(len(ids) == 1 for ids in by_job.values())  # duplicates share the id


def test_kill_9_mid_batch_redelivers_the_whole_batch_and_loses_nothing(
    amqp_url: str, tmp_path: Path
) -> None:
    # Slow but healthy answers: some events of each batch are delivered when the kill lands,
    # so the batches (unacked) come back whole and those events are delivered twice.
    jobs = [f"batch-{n:02d}" for n in range(20)]
    log = tmp_path / "dispatcher.log"
    with endpoint(behaviour=lambda _s, _n: Reply(status=204, delay_s=0.4)) as server:
        async def publish() -> None:
            async with broker(amqp_url, SCHEDULE) as b:
                for start in range(0, 20, 5):
                    await b.publish_batch([(job, server.url) for job in jobs[start:start + 5]])
        asyncio.run(publish())
        with dispatcher_process(amqp_url, server.port, log) as first:
            wait_sync(lambda: len(server.delivered()) >= 3, 30, "some deliveries")
            first.send_signal(signal.SIGKILL)
            assert first.wait(10) == -signal.SIGKILL
        before = {s.job_id for s in server.delivered()}
        assert before != set(jobs), "the kill came too late to test anything"
        with dispatcher_process(amqp_url, server.port, log) as second:
            wait_sync(lambda: {s.job_id for s in server.delivered()} == set(jobs), 40,
                      "every event delivered after the restart")
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0, log.read_text()
        queues = (RESULTS_QUEUE, PARKED_QUEUE, *(retry_queue(s) for s in SCHEDULE))
        assert counts(amqp_url, *queues) == dict.fromkeys(queues, 0)
        # Duplicates keep their webhook-id: receivers dedupe them.
        for request in server.delivered():
            Webhook(SECRET).verify(request.body, request.headers)
            assert request.headers["webhook-id"] == webhook_id(request.job_id, "job.completed")
