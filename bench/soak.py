"""Soak: publish jobs while killing workers, dropping connections and failing webhooks.

    python -m bench.soak --jobs 1000 --kills 10 --drops 2 --fail-rate 0.5

Runs against the local RabbitMQ in a private vhost (``rabbitmqctl`` must work), with the tiny
model, real ``mtq worker`` and ``mtq dispatcher`` processes (restarted whenever they die, as
Kubernetes would), and a loopback webhook endpoint that answers 500 to a fraction of requests.
Chaos is spread over the publishing window: ``kill -9`` of a worker that holds jobs, and
``rabbitmqctl close_all_connections`` on the vhost. At the end it prints one line:

    soak: published=1000 completed=1000 lost=0 duplicates=41 max_redeliveries=3 ...

``lost`` counts confirmed jobs without a delivered webhook; ``max_redeliveries`` is the highest
``x-delivery-count`` a worker completed a job with (from the workers' logs). Exit status 0 when
nothing was lost, 1 otherwise. The process helpers here are reused by ``tests/faults``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.server
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

AMQP_HOST = os.environ.get("MTQ_TEST_AMQP_HOST", "127.0.0.1")
ROUTE = "en-de"
DELIVERY_COUNT_LOG = re.compile(r"x-delivery-count (\d+)")


# -- small helpers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """The first truthy value of ``predicate`` within ``timeout`` seconds, else ``None``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def consumers(vhost: str) -> list[dict[str, Any]]:
    """The broker's view: one dict per consumer (queue_name, prefetch_count, active)."""
    out = rabbitmqctl("list_consumers", "-p", vhost, "--formatter", "json",
                      "queue_name", "prefetch_count", "active")
    return list(json.loads(out or "[]"))


def queue_counts(vhost: str) -> dict[str, tuple[int, int]]:
    """queue -> (ready, unacked)."""
    out = rabbitmqctl("list_queues", "-p", vhost, "--formatter", "json",
                      "name", "messages_ready", "messages_unacknowledged")
    return {
        row["name"]: (int(row["messages_ready"] or 0), int(row["messages_unacknowledged"] or 0))
        for row in json.loads(out or "[]")
    }


def close_connections(vhost: str, reason: str = "mtq fault injection") -> None:
    rabbitmqctl("close_all_connections", "-p", vhost, reason)


@contextlib.contextmanager
def private_vhost(prefix: str = "mtq-soak") -> Iterator[tuple[str, str]]:
    """(amqp_url, vhost) of a fresh vhost, deleted afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@{AMQP_HOST}:5672/{quote(name, safe='')}", name
    finally:
        with contextlib.suppress(Exception):
            rabbitmqctl("delete_vhost", name)


# -- child processes -----------------------------------------------------------------------------


@dataclass
class MtqProcess:
    """One ``python -m mtq <command>`` child: its own log file, a fresh metrics port per start."""

    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    starts: int = 0

    def start(self) -> None:
        self.metrics_port = free_port()
        env = {**os.environ, **self.env, "MTQ_METRICS_PORT": str(self.metrics_port)}
        env.setdefault("OMP_NUM_THREADS", "1")
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mtq", "--log-level", "INFO", *self.command],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        self.starts += 1

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def http(self, path: str) -> tuple[int, str] | None:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}{path}", timeout=2
            ) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return None

    def ready(self) -> bool:
        answer = self.http("/readyz")
        return answer is not None and answer[0] == 200

    def metric(self, name: str) -> float | None:
        answer = self.http("/metrics")
        if answer is None:
            return None
        for line in answer[1].splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    def send(self, signum: int) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signum)

    def wait(self, timeout: float) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``."""
        if not self.alive():
            return self.process.returncode if self.process is not None else None
        self.send(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            self.send(signal.SIGKILL)
            code = self.wait(10)
        return code

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Supervisor:
    """Restarts a process whenever it exits, like a Deployment's pod, until :meth:`close`."""

    def __init__(self, child: MtqProcess) -> None:
        self.child = child
        self.exits: list[int] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="mtq-supervisor")

    def start(self) -> None:
        self.child.start()
        self._thread.start()

    def _loop(self) -> None:
        while not self._closed.is_set():
            code = self.child.wait(0.2)
            if code is None or self._closed.is_set():
                continue
            self.exits.append(code)
            self.child.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self.child.stop()


def mtq_env(amqp_url: str, model: Path | str, receiver_port: int, secret: str,
            **extra: str) -> dict[str, str]:
    """Environment for workers and dispatchers of one vhost, allowed to call the receiver."""
    return {
        "MTQ_AMQP_URL": amqp_url,
        "MTQ_MODEL": str(model),
        "MTQ_ROUTES": ROUTE,
        "MTQ_WEBHOOK_SECRET": secret,
        "MTQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
        "MTQ_WEBHOOK_ALLOW_PORTS": f"80 443 {receiver_port}",
        "MTQ_BATCH_MAX_WAIT_MS": "5",
        **extra,
    }


# -- the webhook endpoint ------------------------------------------------------------------------


@dataclass
class Delivered:
    webhook_id: str
    job_id: str
    event_type: str
    delivery_count: int = 1


@dataclass
class FlakyReceiver:
    """Loopback endpoint: answers 500 to ``fail_rate`` of the requests, records the rest."""

    fail_rate: float
    secret: str
    seed: int = 0
    delivered: dict[str, Delivered] = field(default_factory=dict)  # by webhook id
    jobs: dict[str, str] = field(default_factory=dict)  # job id -> event type delivered
    accepted: int = 0
    failed: int = 0
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/mt"

    def start(self) -> None:
        from standardwebhooks import Webhook

        verifier = Webhook(self.secret)
        rng = random.Random(self.seed)
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with owner.lock:
                    fail = rng.random() < owner.fail_rate
                if fail:
                    with owner.lock:
                        owner.failed += 1
                    self._answer(500)
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    event = verifier.verify(body, headers)
                except Exception:  # any verification failure is a bad signature
                    with owner.lock:
                        owner.bad_signatures += 1
                    self._answer(400)
                    return
                hook_id = headers.get("webhook-id", "")
                with owner.lock:
                    owner.accepted += 1
                    seen = owner.delivered.get(hook_id)
                    if seen is None:
                        owner.delivered[hook_id] = Delivered(hook_id, event["job_id"],
                                                             event["type"])
                    else:
                        seen.delivery_count += 1
                    owner.jobs.setdefault(event["job_id"], event["type"])
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def duplicates(self) -> int:
        with self.lock:
            return sum(d.delivery_count - 1 for d in self.delivered.values())


# -- publishing ----------------------------------------------------------------------------------


class Publisher:
    """Publishes jobs with confirms at ``rate`` on average, in bursts; survives connection drops.

    A job counts as published once the broker confirmed it. A publish interrupted by a drop is
    sent again (the broker may then hold it twice: a duplicate, never a loss).
    """

    def __init__(self, amqp_url: str, jobs: list[dict[str, Any]], rate: float,
                 burst: int = 1) -> None:
        self.amqp_url = amqp_url
        self.jobs = jobs
        self.rate = rate
        self.burst = max(1, burst)  # jobs published back to back, so workers hold a window
        self.confirmed: list[str] = []
        self.reconnects = 0
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="soak-publisher")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        import pika
        import pika.exceptions

        started = time.monotonic()
        index = 0
        connection = None
        while index < len(self.jobs) and not self._stop.is_set():
            first_of_burst = index - index % self.burst
            due = started + first_of_burst / self.rate if self.rate > 0 else 0
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            job = self.jobs[index]
            try:
                if connection is None or connection.is_closed:
                    connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
                    channel = connection.channel()
                    channel.confirm_delivery()
                channel.basic_publish(
                    "mtq.jobs", ROUTE, json.dumps(job).encode(),
                    pika.BasicProperties(
                        delivery_mode=2, content_type="application/json",
                        message_id=job["job_id"], timestamp=int(time.time()),
                    ),
                    mandatory=True,
                )
            except (pika.exceptions.AMQPError, OSError):
                self.reconnects += 1
                connection = None
                time.sleep(0.2)
                continue  # same job again
            self.confirmed.append(job["job_id"])
            index += 1
        with contextlib.suppress(Exception):
            if connection is not None:
                connection.close()
        self.done.set()


def make_jobs(
    count: int, callback_url: str, seed: int, prefix: str = "soak"
) -> list[dict[str, Any]]:
    from mtq.tiny_model import generated_sentences

    rng = random.Random(seed)
    sentences = list(generated_sentences(500, seed=seed))
    return [
        {
            "job_id": f"{prefix}-{number:06d}",
            "source_lang": "en",
            "target_lang": "de",
            "segments": rng.sample(sentences, rng.randint(1, 4)),
            "callback_url": callback_url,
            "options": {"beam_size": 2, "max_new_tokens": 16},
            "metadata": {"n": number},
        }
        for number in range(count)
    ]


# -- the soak ------------------------------------------------------------------------------------


@dataclass
class SoakResult:
    published: int
    completed: int
    failed: int
    lost: int
    duplicates: int
    max_redeliveries: int
    kills: int
    drops: int
    endpoint_failures: int
    parked: int
    dead_lettered: int
    bad_signatures: int
    elapsed_s: float

    def line(self) -> str:
        return (
            f"soak: published={self.published} completed={self.completed} lost={self.lost} "
            f"duplicates={self.duplicates} max_redeliveries={self.max_redeliveries} "
            f"failed={self.failed} kills={self.kills} drops={self.drops} "
            f"endpoint_failures={self.endpoint_failures} parked={self.parked} "
            f"dead_lettered={self.dead_lettered} bad_signatures={self.bad_signatures} "
            f"elapsed={self.elapsed_s:.0f}s"
        )


@dataclass
class SoakConfig:
    jobs: int = 200
    duration_s: float | None = None
    rate: float = 10.0
    kills: int = 2
    drops: int = 1
    fail_rate: float = 0.5
    workers: int = 1
    prefetch: int = 8
    model: Path | None = None
    seed: int = 1
    timeout_s: float = 900.0
    log_dir: Path | None = None
    fault_gap_s: float = 8.0  # at least this long between faults (a worker restart)


class Chaos:
    """Kills and drops spread evenly over ``window_s``; extra ones fire while work remains."""

    def __init__(self, config: SoakConfig, workers: list[Supervisor], vhost: str,
                 window_s: float, busy: Callable[[], bool]) -> None:
        self.config = config
        self.workers = workers
        self.vhost = vhost
        self.busy = busy
        self.kills = 0
        self.drops = 0
        events = ["kill"] * config.kills + ["drop"] * config.drops
        random.Random(config.seed).shuffle(events)
        step = window_s / (len(events) + 1)
        self.plan = [(step * (i + 1), kind) for i, kind in enumerate(events)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="soak-chaos")
        self._rng = random.Random(config.seed + 1)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        started = time.monotonic()
        for at, kind in self.plan:
            while time.monotonic() - started < at and not self._stop.is_set():
                time.sleep(0.1)
            if self._stop.is_set() or not self.busy():
                return
            if kind == "kill":
                self.kills += self._kill()
            else:
                close_connections(self.vhost, "soak: connection drop")
                self.drops += 1

    def _kill(self) -> int:
        """kill -9 a worker while it holds jobs (waits for one to be up and busy)."""
        def busy_worker() -> Supervisor | None:
            candidates = [w for w in self.workers if w.child.alive()
                          and (w.child.metric("mtq_inflight_jobs") or 0) > 0]
            return self._rng.choice(candidates) if candidates else None

        target = wait_until(busy_worker, timeout=30, interval=0.02)
        if target is None or self._stop.is_set():
            return 0
        target.child.send(signal.SIGKILL)
        # The supervisor restarts it; wait until it consumes again before the next event.
        wait_until(lambda: target.child.alive() and target.child.ready(), timeout=120)
        return 1


def run_soak(config: SoakConfig, out: Callable[[str], None] = print) -> SoakResult:
    import asyncio

    from mtq.settings import Settings
    from mtq.tiny_model import build_tiny_model
    from mtq.topology_cli import declare_all

    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mtq-soak-")))
        log_dir = config.log_dir or scratch
        log_dir.mkdir(parents=True, exist_ok=True)
        model = config.model or build_tiny_model(scratch / "tiny-model")
        amqp_url, vhost = stack.enter_context(private_vhost())
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        receiver = FlakyReceiver(config.fail_rate, secret, seed=config.seed)
        receiver.start()
        stack.callback(receiver.stop)
        schedule = "1 1 2 2 3 3 5 5"  # with 3 quick retries each, parking odds are negligible
        env = mtq_env(amqp_url, model, receiver.port, secret,
                      MTQ_WEBHOOK_RETRY_SCHEDULE_S=schedule, MTQ_PREFETCH=str(config.prefetch),
                      MTQ_DRAIN_TIMEOUT_S="20")
        asyncio.run(declare_all(Settings.from_env({
            "MTQ_AMQP_URL": amqp_url, "MTQ_ROUTES": ROUTE,
            "MTQ_WEBHOOK_RETRY_SCHEDULE_S": schedule,
        })))
        dispatcher = Supervisor(MtqProcess(["dispatcher"], env, log_dir / "dispatcher.log"))
        workers = [
            Supervisor(MtqProcess(["worker"], env, log_dir / f"worker-{n}.log"))
            for n in range(config.workers)
        ]
        for child in (dispatcher, *workers):
            child.start()
            stack.callback(child.close)
        if not wait_until(lambda: all(w.child.ready() for w in workers), timeout=180):
            raise RuntimeError(f"workers did not become ready; see {log_dir}")
        count = config.jobs
        if config.duration_s is not None:
            count = max(1, int(config.duration_s * config.rate))
        jobs = make_jobs(count, receiver.url, config.seed)
        # Publishing lasts long enough for every fault to land on a worker that is up again.
        window = max(count / config.rate if config.rate > 0 else 0.0,
                     (config.kills + config.drops) * config.fault_gap_s)
        rate = count / window if window > 0 else 0.0
        publisher = Publisher(amqp_url, jobs, rate, burst=max(1, round(rate * 2)))

        def outstanding() -> bool:
            with receiver.lock:
                return not publisher.done.is_set() or len(receiver.jobs) < len(publisher.confirmed)

        chaos = Chaos(config, workers, vhost, window, outstanding)
        publisher.start()
        stack.callback(publisher.stop)
        chaos.start()
        stack.callback(chaos.stop)
        wait_until(lambda: not outstanding(), timeout=config.timeout_s, interval=0.5)
        chaos.stop()
        publisher.stop()
        counts = queue_counts(vhost)
        with receiver.lock:
            delivered_jobs = dict(receiver.jobs)
        confirmed = set(publisher.confirmed)
        lost = len(confirmed - set(delivered_jobs))
        redeliveries = [
            int(match)
            for supervisor in workers
            for match in DELIVERY_COUNT_LOG.findall(supervisor.child.log_text())
        ]
        result = SoakResult(
            published=len(confirmed),
            completed=sum(1 for t in delivered_jobs.values() if t == "job.completed"),
            failed=sum(1 for t in delivered_jobs.values() if t == "job.failed"),
            lost=lost,
            duplicates=receiver.duplicates(),
            max_redeliveries=max(redeliveries, default=0),
            kills=chaos.kills,
            drops=chaos.drops,
            endpoint_failures=receiver.failed,
            parked=counts.get("mtq.results.parked", (0, 0))[0],
            dead_lettered=counts.get(f"mtq.jobs.{ROUTE}.dead", (0, 0))[0],
            bad_signatures=receiver.bad_signatures,
            elapsed_s=time.monotonic() - started,
        )
        if lost:
            out(f"soak: {lost} jobs lost; logs in {log_dir}")
    out(result.line())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description="Soak mtq under injected faults; one line out."
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--jobs", type=int, default=200, help="jobs to publish (default 200)")
    size.add_argument("--duration", type=float, help="publish for this many seconds instead")
    parser.add_argument("--rate", type=float, default=10.0, help="jobs published per second")
    parser.add_argument("--kills", type=int, default=2, help="worker kill -9 to inject")
    parser.add_argument("--drops", type=int, default=1, help="connection drops to inject")
    parser.add_argument("--fail-rate", type=float, default=0.5,
                        help="share of webhook requests answered with 500 (default 0.5)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--prefetch", type=int, default=8, help="MTQ_PREFETCH of the workers")
    parser.add_argument("--model", type=Path, help="model directory (default: build the tiny one)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="give up waiting for webhooks after this many seconds")
    parser.add_argument("--log-dir", type=Path, help="keep the child processes' logs here")
    args = parser.parse_args(argv)
    config = SoakConfig(
        jobs=args.jobs, duration_s=args.duration, rate=args.rate, kills=args.kills,
        drops=args.drops, fail_rate=args.fail_rate, workers=args.workers,
        prefetch=args.prefetch, model=args.model, seed=args.seed, timeout_s=args.timeout,
        log_dir=args.log_dir,
    )
    result = run_soak(config)
    return 0 if result.lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
