"""Soak: publish jobs while killing workers, dropping connections and failing webhooks.

    python -m tests.faults.soak --jobs 1000 --kills 10 --drops 2 --fail-rate 0.5

Runs against the local RabbitMQ in a private vhost (``rabbitmqctl`` must work), with the tiny
model, real ``mtq worker`` and ``mtq dispatcher`` processes (restarted whenever they die, as
Kubernetes would), and a loopback webhook endpoint that answers 500 to a fraction of requests.
Chaos is spread over the publishing window: ``kill -9`` of a worker that holds jobs, and
``rabbitmqctl close_all_connections`` on the vhost. At the end it prints one line:

    soak: published=1000 completed=1000 lost=0 duplicates=41 max_redeliveries=3 ...

``lost`` counts confirmed jobs without a delivered webhook; ``max_redeliveries`` is the highest
``x-delivery-count`` a worker answered a job with, read from the workers' ``/metrics``
(``mtq_job_delivery_count``), sampled twice a second and right before each kill. Exit status 0
when nothing was lost, 1 otherwise. Process, vhost and receiver helpers are
:mod:`tests.harness`; ``tests/faults/test_soak.py`` runs a short soak with the suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness import (
    ROUTE,
    LoopbackReceiver,
    MtqProcess,
    Received,
    Reply,
    Supervisor,
    close_connections,
    mtq_env,
    new_secret,
    private_vhost,
    queue_counts,
    wait_until,
)

DELIVERY_COUNT_METRIC = "mtq_job_delivery_count"


# -- the webhook endpoint ------------------------------------------------------------------------


def flaky_receiver(fail_rate: float, secret: str, seed: int) -> LoopbackReceiver:
    """A loopback endpoint answering 500 to ``fail_rate`` of the requests (signatures checked)."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def respond(request: Received, _: int) -> Reply:
        with lock:
            fail = rng.random() < fail_rate
        if fail:
            return Reply(500)
        return Reply(400 if request.bad_signature else 200)

    return LoopbackReceiver(responder=respond, secret=secret, path="/hooks/mt")


def delivered_jobs(receiver: LoopbackReceiver) -> dict[str, str]:
    """job id -> the type of its first event delivered."""
    return {job: str((r.event or r.json())["type"]) for job, r in receiver.first_by_job().items()}


# -- redeliveries, from the workers' metrics -----------------------------------------------------


def max_delivery_count(metrics_text: str) -> int:
    """The highest ``x-delivery-count`` in the ``mtq_job_delivery_count`` histogram (0: none)."""
    buckets: list[tuple[float, float]] = []
    for line in metrics_text.splitlines():
        if line.startswith(DELIVERY_COUNT_METRIC + "_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(bound), float(line.rsplit(" ", 1)[1])))
    total = max((count for _, count in buckets), default=0.0)
    if total == 0:
        return 0
    finite = [bound for bound, _ in buckets if not math.isinf(bound)]
    top = next((bound for bound, count in sorted(buckets) if count >= total), math.inf)
    return int(top if not math.isinf(top) else max(finite, default=0))


class RedeliveryWatch:
    """Keeps the highest delivery count any worker reported, before its metrics die with it."""

    def __init__(self, workers: list[Supervisor]) -> None:
        self.workers = workers
        self.highest = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="soak-watch")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sample_all()

    def sample(self, child: MtqProcess) -> None:
        answer = child.http("/metrics")
        if answer is not None and answer[0] == 200:
            with self._lock:
                self.highest = max(self.highest, max_delivery_count(answer[1]))

    def sample_all(self) -> None:
        for worker in self.workers:
            self.sample(worker.child)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample_all()


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
    from mtq.tools.tiny_corpus import generated_sentences

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
                 window_s: float, busy: Callable[[], bool],
                 before_kill: Callable[[MtqProcess], None]) -> None:
        self.config = config
        self.workers = workers
        self.vhost = vhost
        self.busy = busy
        self.before_kill = before_kill
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
        self.before_kill(target.child)
        target.child.send(signal.SIGKILL)
        # The supervisor restarts it; wait until it consumes again before the next event.
        wait_until(lambda: target.child.alive() and target.child.ready(), timeout=120)
        return 1


def run_soak(config: SoakConfig, out: Callable[[str], None] = print) -> SoakResult:
    from mtq.client.declare import declare_all
    from mtq.core.settings import Settings
    from mtq.tools.tiny_model import build_tiny_model

    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mtq-soak-")))
        log_dir = config.log_dir or scratch
        log_dir.mkdir(parents=True, exist_ok=True)
        model = config.model or build_tiny_model(scratch / "tiny-model")
        amqp_url, vhost = stack.enter_context(private_vhost("mtq-soak"))
        secret = new_secret()
        receiver = stack.enter_context(flaky_receiver(config.fail_rate, secret, config.seed))
        schedule = "1 1 2 2 3 3 5 5"  # with 3 quick retries each, parking odds are negligible
        env = mtq_env(amqp_url, model, receiver.port, secret,
                      MTQ_WEBHOOK_RETRY_SCHEDULE_S=schedule, MTQ_PREFETCH=str(config.prefetch),
                      MTQ_INTAKE_SEGMENTS="0", MTQ_DRAIN_TIMEOUT_S="20")
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
            return (not publisher.done.is_set()
                    or len(delivered_jobs(receiver)) < len(publisher.confirmed))

        watch = RedeliveryWatch(workers)
        chaos = Chaos(config, workers, vhost, window, outstanding, before_kill=watch.sample)
        watch.start()
        stack.callback(watch.stop)
        publisher.start()
        stack.callback(publisher.stop)
        chaos.start()
        stack.callback(chaos.stop)
        wait_until(lambda: not outstanding(), timeout=config.timeout_s, interval=0.5)
        chaos.stop()
        publisher.stop()
        watch.stop()
        counts = queue_counts(vhost)
        delivered = delivered_jobs(receiver)
        confirmed = set(publisher.confirmed)
        lost = len(confirmed - set(delivered))
        seen = receiver.seen()
        result = SoakResult(
            published=len(confirmed),
            completed=sum(1 for t in delivered.values() if t == "job.completed"),
            failed=sum(1 for t in delivered.values() if t == "job.failed"),
            lost=lost,
            duplicates=receiver.duplicates(),
            max_redeliveries=watch.highest,
            kills=chaos.kills,
            drops=chaos.drops,
            endpoint_failures=sum(1 for r in seen if r.answered == 500),
            parked=counts.get("mtq.results.parked", (0, 0))[0],
            dead_lettered=counts.get(f"mtq.jobs.{ROUTE}.dead", (0, 0))[0],
            bad_signatures=sum(1 for r in seen if r.bad_signature),
            elapsed_s=time.monotonic() - started,
        )
        if lost:
            out(f"soak: {lost} jobs lost; logs in {log_dir}")
    out(result.line())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults.soak",
        description="Soak mtq under injected faults; one line out.",
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
