"""The cluster fault suite: real workers and dispatchers on a private three-node cluster.

    python -m tests.cluster.suite --model DIR --workers 2 --dispatchers 2  # cluster-faults.sh

Jobs are published with confirms throughout (a publish that fails is retried with the same
job id until confirmed); the webhook endpoint fails every few requests. The faults, in order:

1. ``kill -9`` of the node that leads ``mtq.jobs.<route>`` while jobs are in flight, restart it;
2. ``kill -9`` of the node that leads ``mtq.results``, restart it;
3. ``stop_app`` for longer than the reconnect backoffs, then ``start_app``, of a follower (of
   at least one of the two queues): the one with the most worker and dispatcher connections.

After each fault, *recovery* is the time until a webhook arrives for a job confirmed after the
fault (the whole path works again: publish, consume, translate, result, dispatch). At the end
every confirmed job must have its webhook (``lost`` 0) and all deliveries of one job must carry
the same ``webhook-id`` (a duplicate is the same event again, never a second event).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mtq.client.submit import JobPublisher
from mtq.core.errors import MtqError
from tests.cluster.cluster import Node, RabbitCluster
from tests.harness import (
    TEST_SECRET,
    LoopbackReceiver,
    MtqProcess,
    Received,
    Reply,
    Supervisor,
    child_env,
    mtq_env,
    wait_until,
)

RESULTS_QUEUE = "mtq.results"
JOBS_QUEUE = "mtq.jobs.en-de"
FAIL_EVERY = 4  # the endpoint answers 500 to every 4th request
RECONNECT_MAX_DELAY_S = 2.0
DISPATCHER_RETRY_S = 5.0  # aio-pika's robust reconnect interval (the dispatcher)
RECOVERY_TIMEOUT_S = 120.0


@dataclass
class Fault:
    name: str
    node: str
    clients_on_node: list[str]
    recover_s: float | None = None


@dataclass
class Figures:
    published: int = 0
    publish_retries: int = 0
    delivered: int = 0  # 2xx answers of the endpoint
    failed_answers: int = 0  # 5xx answers (the endpoint failing on purpose)
    unique_jobs: int = 0
    lost: int = 0
    duplicates: int = 0  # deliveries beyond the first of a webhook-id
    jobs_with_two_ids: int = 0
    bad_signatures: int = 0
    process_exits: int = 0
    faults: list[Fault] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.lost == 0 and self.jobs_with_two_ids == 0 and self.bad_signatures == 0
                and all(f.recover_s is not None for f in self.faults))

    def table(self) -> str:
        rows = [
            "| fault | node | mtq clients on it | recovered after |",
            "|---|---|---|---|",
        ]
        for f in self.faults:
            recovered = f"{f.recover_s:.1f} s" if f.recover_s is not None else "NOT RECOVERED"
            rows.append(f"| {f.name} | {f.node.split('@')[0]} | "
                        f"{', '.join(f.clients_on_node) or '-'} | {recovered} |")
        rows += [
            "",
            "| jobs confirmed | publish retries | webhooks delivered | endpoint 500s | lost "
            "| duplicates (same webhook-id) | jobs with two webhook-ids | process exits |",
            "|---|---|---|---|---|---|---|---|",
            f"| {self.published} | {self.publish_retries} | {self.delivered} | "
            f"{self.failed_answers} | {self.lost} | {self.duplicates} | "
            f"{self.jobs_with_two_ids} | {self.process_exits} |",
        ]
        return "\n".join(rows)


class Publisher:
    """Publishes small jobs with confirms at ``rate`` per second until stopped.

    Goes through ``mtq submit``'s publisher (so through every node of ``MTQ_AMQP_URL``); a job
    whose publish fails is published again, same id, on a new connection, until confirmed.
    """

    def __init__(self, amqp_url: str, callback_url: str, rate: float) -> None:
        self._amqp_url = amqp_url
        self._callback_url = callback_url
        self._pause = 1.0 / rate
        self.confirmed: dict[str, float] = {}  # job id -> monotonic time of the confirm
        self.retries = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="cluster-publisher")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)

    def confirmed_after(self, moment: float) -> set[str]:
        with self._lock:
            return {job for job, at in self.confirmed.items() if at > moment}

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self.confirmed)

    def _job(self, number: int) -> dict[str, object]:
        job_id = f"cluster-{number:05d}"
        return {"job_id": job_id, "source_lang": "en", "target_lang": "de",
                "segments": [f"Hello number {number}.", "Thank you."],
                "callback_url": self._callback_url,
                "options": {"beam_size": 1, "max_new_tokens": 8}, "metadata": {"n": number}}

    def _run(self) -> None:
        publisher: JobPublisher | None = None
        number = 0
        while not self._stop.is_set():
            job = self._job(number)
            while True:  # until this job is confirmed (even when asked to stop)
                try:
                    if publisher is None:
                        publisher = JobPublisher(self._amqp_url)
                    publisher.publish(job)
                    break
                except Exception:  # connection lost, nacked, node down: a new connection
                    self.retries += 1
                    if publisher is not None:
                        with contextlib.suppress(Exception):
                            publisher.close()
                    publisher = None
                    time.sleep(0.2)
            with self._lock:
                self.confirmed[str(job["job_id"])] = time.monotonic()
            number += 1
            self._stop.wait(self._pause)
        if publisher is not None:
            with contextlib.suppress(Exception):
                publisher.close()


def flaky(request: Received, number: int) -> Reply:
    if request.bad_signature:
        return Reply(400)
    return Reply(500) if number % FAIL_EVERY == 0 else Reply(200)


@contextlib.contextmanager
def supervised(children: list[MtqProcess]) -> Iterator[list[Supervisor]]:
    """Each child restarted whenever it exits, like a Deployment's pod.

    The first child starts alone: it declares the topology on its node, which therefore leads
    the queues, so the first kill takes down a node with a worker on it.
    """
    supervisors = [Supervisor(child) for child in children]
    try:
        for number, supervisor in enumerate(supervisors):
            supervisor.start()
            if number == 0 and not wait_until(supervisor.child.ready, 180, 0.5):
                raise MtqError(f"the first worker did not become ready:\n"
                               f"{supervisor.child.log_text()[-3000:]}")
        yield supervisors
    finally:
        for supervisor in supervisors:
            if supervisor.child.process is not None:
                supervisor.close()


def declare_topology(amqp_url: str, log_dir: Path) -> None:
    """``mtq topology`` through the node list, as an operator would run it."""
    env = child_env({"MTQ_AMQP_URL": amqp_url, "MTQ_ROUTES": "en-de",
                     "MTQ_WEBHOOK_RETRY_SCHEDULE_S": "1 2"})
    with (log_dir / "topology.log").open("wb") as out:
        code = subprocess.run([sys.executable, "-m", "mtq", "topology"], env=env, stdout=out,
                              stderr=subprocess.STDOUT, timeout=120, check=False).returncode
    if code != 0:
        raise MtqError(f"mtq topology failed:\n{(log_dir / 'topology.log').read_text()}")


def run_suite(root: Path, model: Path, *, workers: int = 1, dispatchers: int = 1,
              rate: float = 10.0, say: Callable[[str], None] = print) -> Figures:
    figures = Figures()
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def note(text: str) -> None:
        say(f"[{time.monotonic() - started:6.1f}s] {text}")

    with RabbitCluster(root / "cluster") as cluster, \
            LoopbackReceiver(responder=flaky, secret=TEST_SECRET) as receiver:
        note(f"cluster up: {', '.join(n.nodename for n in cluster.nodes)}")
        amqp_url = " ".join(cluster.urls())
        env = mtq_env(amqp_url, model, receiver.port, TEST_SECRET,
                      MTQ_WEBHOOK_RETRY_SCHEDULE_S="1 2",
                      MTQ_RECONNECT_MAX_DELAY_S=str(RECONNECT_MAX_DELAY_S),
                      MTQ_PREFETCH="8")
        children = (
            [MtqProcess(["worker"], env, logs / f"worker-{n}.log") for n in range(workers)]
            + [MtqProcess(["dispatcher"], env, logs / f"dispatcher-{n}.log")
               for n in range(dispatchers)]
        )
        publisher = Publisher(amqp_url, receiver.url, rate)
        with supervised(children) as supervisors:
            if not wait_until(lambda: all(c.ready() for c in children), 180, 0.5):
                raise MtqError("workers and dispatchers did not become ready:\n"
                               + "\n".join(c.log_text()[-2000:] for c in children))
            declare_topology(amqp_url, logs)  # the operator's command: a no-op by now
            note("workers and dispatchers ready, `mtq topology` done; publishing")
            publisher.start()
            _await_recovery(publisher, receiver, time.monotonic())
            note("pipeline delivering")

            def fault(name: str, node: Node, act: Callable[[], None],
                      undo: Callable[[], None]) -> None:
                clients = cluster.connections(node)
                _await_in_flight(children[:workers])
                moment = time.monotonic()
                act()
                note(f"{name}: {node.nodename} (clients on it: {clients or 'none'})")
                recover = _await_recovery(publisher, receiver, moment)
                figures.faults.append(Fault(name, node.nodename, _short(clients), recover))
                note(f"  recovered after {recover:.1f}s" if recover is not None
                     else "  NOT RECOVERED")
                undo()
                note(f"  {node.nodename} back in the cluster")

            jobs_leader = cluster.leader(JOBS_QUEUE)
            fault(f"kill -9 leader of {JOBS_QUEUE}", jobs_leader,
                  lambda: cluster.kill(jobs_leader), lambda: cluster.restart(jobs_leader))
            results_leader = cluster.leader(RESULTS_QUEUE)
            fault(f"kill -9 leader of {RESULTS_QUEUE}", results_leader,
                  lambda: cluster.kill(results_leader), lambda: cluster.restart(results_leader))
            follower, role = _follower(cluster)
            hold = 2 * max(RECONNECT_MAX_DELAY_S, DISPATCHER_RETRY_S)

            def stop_for_a_while() -> None:
                cluster.stop_app(follower)
                time.sleep(hold)  # the fault itself: the node stays down this long

            fault(f"stop_app for {hold:.0f}s of a node ({role})", follower,
                  stop_for_a_while, lambda: cluster.start_app(follower))
            publisher.stop()
            note(f"publishing stopped: {len(publisher.confirmed)} jobs confirmed; "
                 "waiting for every webhook")
            confirmed = set(publisher.snapshot())
            wait_until(lambda: confirmed <= set(receiver.first_by_job()), 300, 0.5)
            figures.process_exits = sum(len(s.exits) for s in supervisors)
        _count(figures, publisher, receiver, confirmed)
    note("done")
    return figures


def _short(clients: list[str]) -> list[str]:
    """``mtq-worker@host:pid`` twice -> ``2 workers``; the publisher is ``mtq-submit``."""
    kinds = Counter(name.split("@")[0].removeprefix("mtq-") for name in clients)
    return [f"{count} {kind}s" if count > 1 else kind for kind, count in sorted(kinds.items())]


def _follower(cluster: RabbitCluster) -> tuple[Node, str]:
    """A follower of at least one of the two queues, and its role: the one with the most
    worker and dispatcher connections (a node just restarted has none), a follower of both
    queues when that is a tie."""
    leaders = {JOBS_QUEUE: cluster.leader(JOBS_QUEUE).nodename,
               RESULTS_QUEUE: cluster.leader(RESULTS_QUEUE).nodename}

    def rank(node: Node) -> tuple[int, int]:
        clients = [c for c in cluster.connections(node) if "@" in c]  # workers, dispatchers
        return len(clients), -sum(leader == node.nodename for leader in leaders.values())

    candidates = [n for n in cluster.nodes if n.nodename not in leaders.values()
                  or len(set(leaders.values())) > 1]
    node = max(candidates, key=rank)
    led = [queue for queue, leader in leaders.items() if leader == node.nodename]
    role = f"leader of {led[0]}, follower of the other" if led else "follower of both"
    return node, role


def _await_in_flight(workers: list[MtqProcess]) -> None:
    """Best effort: a worker holds jobs right now (so the fault hits jobs in flight)."""
    wait_until(lambda: any((w.metric("mtq_inflight_jobs") or 0) > 0 for w in workers), 20, 0.05)


def _await_recovery(publisher: Publisher, receiver: LoopbackReceiver,
                    moment: float) -> float | None:
    """Seconds from ``moment`` until a job confirmed after it was delivered, else None."""

    def arrival() -> float | None:
        fresh = publisher.confirmed_after(moment)
        times = [r.arrived for r in receiver.delivered() if r.job_id in fresh]
        return min(times) if times else None

    found = wait_until(arrival, RECOVERY_TIMEOUT_S, 0.1)
    return None if found is None else found - moment


def _count(figures: Figures, publisher: Publisher, receiver: LoopbackReceiver,
           confirmed: set[str]) -> None:
    delivered = receiver.delivered()
    ids_by_job: dict[str, set[str]] = {}
    for request in delivered:
        ids_by_job.setdefault(request.job_id, set()).add(request.webhook_id)
    figures.published = len(confirmed)
    figures.publish_retries = publisher.retries
    figures.delivered = len(delivered)
    figures.failed_answers = sum(1 for r in receiver.seen() if r.answered == 500)
    figures.unique_jobs = len(ids_by_job)
    figures.lost = len(confirmed - set(ids_by_job))
    figures.duplicates = receiver.duplicates()
    figures.jobs_with_two_ids = sum(1 for ids in ids_by_job.values() if len(ids) > 1)
    figures.bad_signatures = sum(1 for r in receiver.seen() if r.bad_signature)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model folder (the tiny test model)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dispatchers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20.0, help="jobs published per second")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="mtq-cluster-"))
    try:
        figures = run_suite(root, Path(args.model), workers=args.workers,
                            dispatchers=args.dispatchers, rate=args.rate)
    finally:
        print(f"logs: {root / 'logs'}" if args.keep else "", file=sys.stderr)
        if not args.keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    print(figures.table())
    if args.json:
        Path(args.json).write_text(json.dumps(
            {**{k: v for k, v in vars(figures).items() if k != "faults"},
             "faults": [vars(f) for f in figures.faults]}, indent=2))
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
