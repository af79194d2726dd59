"""mtq end to end: publish -> RabbitMQ -> worker -> mtq.results -> dispatcher -> webhook.

Everything runs on this machine, in a private vhost created for the run and deleted after:

- the client publishes from its own process with confirms (``mtq.client.submit.JobPublisher``);
- the worker is the real :class:`worker.app.Worker`, in this process, on the engine the other
  strategies use (so model and warm-up are shared and peak RSS is the worker's);
- the dispatcher is ``python -m mtq dispatcher`` in a child process, POSTing signed webhooks
  to a loopback receiver in another child (:mod:`bench.sink`); every webhook's signature is
  checked after the run with the ``standardwebhooks`` library. Without the dispatcher
  (``webhooks.cli`` absent, or ``--webhooks off``) the run ends at the results queue instead:
  that child consumes ``mtq.results``, and the row says so;
- a CPU account (:mod:`bench.cpu`) says which thread or process used the CPU meanwhile.

The clock starts at the first publish, once the worker is warm and consuming, and stops at
the last job's webhook (or result event).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cpu import CpuAccount, find_pids
from bench.publisher import PublisherProcess
from bench.sink import RESULTS, WEBHOOK, Arrivals, SinkProcess
from mtq.client.declare import declare_all
from mtq.core.settings import Settings
from mtq.core.topology import RESULTS_QUEUE, job_queue
from tests.harness import (
    BrokerUnavailable,
    MtqProcess,
    consumer_count,
    new_secret,
    private_vhost,
    wait_until,
)
from worker.engines import Engine

log = logging.getLogger(__name__)

ROUTE = "en-de"
__all__ = ["BrokerUnavailable", "EndToEndTiming", "dispatcher_available", "run_end_to_end"]


def dispatcher_available() -> bool:
    return importlib.util.find_spec("webhooks.cli") is not None


# -- the dispatcher child process --------------------------------------------------------------


def start_dispatcher(
    amqp_url: str, secret: str, receiver_port: int, log_file: Path, settings: Settings
) -> MtqProcess:
    """``python -m mtq dispatcher`` against the run's vhost, allowed to call loopback.

    Its concurrency settings come from the run's :class:`Settings`, like the worker's."""
    child = MtqProcess(["dispatcher"], {
        "MTQ_DISPATCHER_PREFETCH": str(settings.dispatcher_prefetch),
        "MTQ_WEBHOOK_CONCURRENCY": str(settings.webhook_concurrency),
        "MTQ_WEBHOOK_PER_HOST": str(settings.webhook_per_host),
        "MTQ_AMQP_URL": amqp_url,
        "MTQ_ROUTES": ROUTE,
        "MTQ_WEBHOOK_SECRET": secret,
        "MTQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
        "MTQ_WEBHOOK_ALLOW_PORTS": f"80 443 {receiver_port}",
    }, log_file)
    child.start()
    return child


def peak_rss_bytes(pid: int) -> int | None:
    """VmHWM of a running process (None once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def lines_with(child: MtqProcess, word: str) -> int:
    return sum(word in line for line in child.log_text().splitlines())


def log_tail(child: MtqProcess, lines: int = 20) -> str:
    return "\n".join(child.log_text().splitlines()[-lines:])


def _run_settings(settings: Settings, amqp_url: str, secret: str, port: int) -> Settings:
    """The worker's settings for this run: its vhost, and loopback callbacks allowed."""
    return settings.replace(
        amqp_url=amqp_url, routes=(ROUTE,), webhook_secret=(secret,),
        webhook_allow_networks=("127.0.0.1/32",), webhook_allow_ports=(80, 443, port),
    )


def _dispatcher_up(dispatcher: MtqProcess, amqp_url: str) -> bool:
    wait_until(
        lambda: not dispatcher.alive() or consumer_count(amqp_url, RESULTS_QUEUE) > 0,
        timeout=90, interval=0.5,
    )
    return dispatcher.alive()


# -- the run -----------------------------------------------------------------------------------


@dataclass
class EndToEndTiming:
    wall_s: float
    job_latencies_s: list[float]
    publish_s: float
    sink: str
    duplicates: int
    dispatcher_peak_rss_bytes: int | None
    notes: list[str]
    first_publish: float = 0.0  # time.monotonic() of the first publish
    cpu_s: dict[str, float] = field(default_factory=dict)
    deferred_webhooks: int | None = None


def run_end_to_end(
    engine: Engine,
    jobs: list[list[str]],
    options: dict[str, int],
    settings: Settings,
    *,
    webhooks: str = "auto",
    on_start: Callable[[], None] = lambda: None,
    timeout_s: float = 1800.0,
    work_dir: Path,
) -> EndToEndTiming:
    """Run ``jobs`` (lists of texts) through a real broker, worker and, if any, dispatcher.

    ``on_start`` is called right before the first publish (resets the memory probe and the
    engine's batch records).
    """
    notes: list[str] = []
    use_dispatcher = webhooks == "on" or (webhooks == "auto" and dispatcher_available())
    if webhooks == "on" and not dispatcher_available():
        raise RuntimeError("--webhooks on, but webhooks/cli.py (mtq dispatcher) does not exist")
    if webhooks == "auto" and not use_dispatcher:
        notes.append("no dispatcher yet (webhooks/cli.py absent): timed to mtq.results")
    with contextlib.ExitStack() as cleanup:
        amqp_url, _vhost = cleanup.enter_context(private_vhost("mtq-bench"))
        secret = new_secret()
        dispatcher: MtqProcess | None = None
        sink: SinkProcess | None = None
        if use_dispatcher:
            receiver = SinkProcess(WEBHOOK)
            cleanup.callback(receiver.close)
            asyncio.run(declare_all(_run_settings(settings, amqp_url, secret, receiver.port)))
            dispatcher = start_dispatcher(
                amqp_url, secret, receiver.port, work_dir / "dispatcher.log", settings
            )
            cleanup.callback(dispatcher.stop)
            if _dispatcher_up(dispatcher, amqp_url):
                sink = receiver
            else:
                tail = log_tail(dispatcher)
                dispatcher.stop()
                dispatcher = None
                if webhooks == "on":
                    raise RuntimeError(f"the dispatcher did not start consuming:\n{tail}")
                log.warning("dispatcher did not start; timing to mtq.results instead:\n%s", tail)
                notes.append("dispatcher failed to start: timed to mtq.results")
        if sink is None:
            asyncio.run(declare_all(_run_settings(settings, amqp_url, secret, 80)))
            sink = SinkProcess(RESULTS, amqp_url)
            cleanup.callback(sink.close)
        payload = [
            {
                "job_id": f"bench-{number:06d}",
                "source_lang": "en",
                "target_lang": "de",
                "segments": list(texts),
                "callback_url": sink.url,
                "options": options,
            }
            for number, texts in enumerate(jobs)
        ]
        run_settings = _run_settings(settings, amqp_url, secret, sink.port)
        timing = _drive(
            engine, run_settings, payload, sink, amqp_url, on_start, timeout_s,
            dispatcher.pid if dispatcher is not None else None,
        )
        if dispatcher is not None:
            timing.dispatcher_peak_rss_bytes = peak_rss_bytes(dispatcher.pid)
            timing.deferred_webhooks = lines_with(dispatcher, "deferred")
            _verify_signatures(secret, sink.stop())
        timing.notes = notes + timing.notes
        timing.sink = sink.label
        return timing


def _drive(
    engine: Engine, settings: Settings, payload: list[dict[str, Any]],
    sink: SinkProcess, amqp_url: str, on_start: Callable[[], None],
    timeout_s: float, dispatcher_pid: int | None,
) -> EndToEndTiming:
    from worker.app import Worker

    client = PublisherProcess(amqp_url, payload)

    async def main() -> EndToEndTiming:
        loop = asyncio.get_running_loop()
        worker = Worker(settings, engine)
        task = asyncio.ensure_future(worker.run(burst=False, health=False))
        try:
            await _until_consuming(worker, task, amqp_url)
            if not await loop.run_in_executor(None, client.wait_connected, 120):
                raise RuntimeError("the client process did not connect in 120 s")
            processes = {"rabbitmq": find_pids("beam.smp"), "client (publisher)": [client.pid]}
            if dispatcher_pid is not None:
                processes["dispatcher"] = [dispatcher_pid]
            account = CpuAccount(processes)
            on_start()
            account.start()
            client.go()
            await _until_delivered(sink, len(payload), task, client, timeout_s)
            cpu = account.stop()
            first, last_confirm = await loop.run_in_executor(None, client.answer, 60)
        finally:
            worker.request_stop()
            await task
        arrivals = await loop.run_in_executor(None, sink.stop)
        failed = [job for job, kind in arrivals.types.items() if kind != "job.completed"]
        if failed:
            raise RuntimeError(f"{len(failed)} jobs did not complete, e.g. {failed[0]}")
        latencies = [t - first for t in arrivals.times.values()]
        return EndToEndTiming(
            wall_s=max(latencies), job_latencies_s=latencies, publish_s=last_confirm - first,
            sink=sink.label, duplicates=arrivals.duplicates, dispatcher_peak_rss_bytes=None,
            notes=[], first_publish=first, cpu_s=cpu,
        )

    try:
        return asyncio.run(main())
    finally:
        client.close()


async def _until_consuming(worker: Any, task: asyncio.Future[Any], amqp_url: str) -> None:
    """Until the worker is ready and the broker lists its consumer (300 s at most)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 300
    while not (worker.is_ready() and await loop.run_in_executor(
        None, consumer_count, amqp_url, job_queue(ROUTE)
    )):
        if task.done():
            task.result()
            raise RuntimeError("the worker stopped before consuming")
        if loop.time() > deadline:
            raise RuntimeError("the worker did not start consuming in 300 s")
        await asyncio.sleep(0.05)


async def _until_delivered(
    sink: SinkProcess, total: int, task: asyncio.Future[Any], client: PublisherProcess,
    timeout_s: float,
) -> None:
    """Until every job reached the sink; raise when the worker or the client gives up."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while sink.count() < total:
        if task.done():
            task.result()
            raise RuntimeError("the worker stopped during the run")
        client.poll()
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(
                f"only {sink.count()} of {total} jobs reached the {sink.label} in "
                f"{timeout_s:.0f} s"
            )
        await asyncio.sleep(0.1)


def _verify_signatures(secret: str, arrivals: Arrivals) -> None:
    """Every webhook must pass a Standard Webhooks verifier (the client library's)."""
    from standardwebhooks.webhooks import Webhook

    verifier = Webhook(secret)
    for headers, body in arrivals.hooks:
        verifier.verify(body, headers)

