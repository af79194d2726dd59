"""Where the end-to-end run's results land, in a process of its own.

The receiver must not share the worker's process: the worker's inference thread needs the GIL
for most of a ``generate`` step, and a webhook server in the same interpreter would take it
away (py-spy showed it holding the GIL in 8% of the samples), which no production setup does.

- ``webhook``: the harness's loopback receiver (:class:`tests.harness.LoopbackReceiver`),
  recording every POST (the dispatcher's webhooks);
- ``results``: a consumer of ``mtq.results``, for runs without a dispatcher.

Arrival times are ``time.monotonic()`` (CLOCK_MONOTONIC on Linux, comparable across
processes). The parent polls a shared counter during the run and collects everything after.
Kept free of torch imports: ``multiprocessing`` re-imports this module in the child.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pika

from mtq.core import result_batch
from mtq.core.topology import RESULTS_QUEUE
from tests.harness import LoopbackReceiver, Received, Reply

WEBHOOK = "webhook"
RESULTS = "results queue"


@dataclass
class Arrivals:
    """First arrival time of each job's event, plus what is needed to verify it."""

    times: dict[str, float] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    duplicates: int = 0
    hooks: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


class _Recorder:
    def __init__(self, count: Any) -> None:
        self.arrivals = Arrivals()
        self._count = count
        self._lock = threading.Lock()

    def record(self, job_id: str, event_type: str, headers: dict[str, str], body: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            arrivals = self.arrivals
            if job_id in arrivals.times:
                arrivals.duplicates += 1
                return
            arrivals.times[job_id] = now
            arrivals.types[job_id] = event_type
            arrivals.hooks.append((headers, body))
            self._count.value = len(arrivals.times)


def _webhook_receiver(recorder: _Recorder) -> LoopbackReceiver:
    """The harness's loopback receiver, recording each job's first event as it arrives."""

    def answer(request: Received, _n: int) -> Reply:
        try:
            event = request.json()
            recorder.record(str(event["job_id"]), str(event["type"]), request.headers,
                            request.body)
        except (ValueError, KeyError, TypeError):
            return Reply(400, body=b"")
        return Reply(204, body=b"")

    # Kept alive, as real receivers are: a connection per webhook would bill the dispatcher
    # for TCP set-up and tear-down that production does not pay.
    return LoopbackReceiver(responder=answer, path="/hooks/mt", keep_alive=True)


def _consume_results(
    amqp_url: str, recorder: _Recorder, stop: Any, registered: threading.Event,
    errors: list[BaseException],
) -> None:
    try:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    except Exception as exc:
        errors.append(exc)
        registered.set()
        return
    channel = connection.channel()
    channel.basic_qos(prefetch_count=256)

    def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        for event_headers, event_body in result_batch.events(properties.headers, body):
            headers = {str(k): str(v) for k, v in event_headers.items()}
            recorder.record(headers.get("x-mtq-job-id", "?"),
                            headers.get("x-mtq-event-type", "?"), headers, event_body)
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(RESULTS_QUEUE, on_message)
    registered.set()
    while not stop.is_set():
        connection.process_data_events(time_limit=0.2)
    connection.close()


def serve(kind: str, amqp_url: str, info: Any, count: Any, stop: Any, out: Any) -> None:
    """The child process: report ``(status, port, url)``, record until ``stop``, send all."""
    recorder = _Recorder(count)
    try:
        if kind == WEBHOOK:
            with _webhook_receiver(recorder) as receiver:
                info.put(("ok", receiver.port, receiver.url))
                stop.wait()
        else:
            registered = threading.Event()
            errors: list[BaseException] = []
            consumer = threading.Thread(
                target=_consume_results, args=(amqp_url, recorder, stop, registered, errors),
                daemon=True,
            )
            consumer.start()
            if not registered.wait(60) or errors:
                raise RuntimeError(f"cannot consume {RESULTS_QUEUE}: {errors[:1]}")
            # Nothing POSTs without a dispatcher; port 80 passes the worker's callback check.
            info.put(("ok", 80, "http://127.0.0.1:80/unused"))
            consumer.join()
    except Exception as exc:
        info.put((f"error: {type(exc).__name__}: {exc}", 0, ""))
        return
    out.put(recorder.arrivals)


class SinkProcess:
    """The parent's handle on a :func:`serve` child."""

    def __init__(self, kind: str, amqp_url: str = "") -> None:
        context = multiprocessing.get_context("spawn")
        self.label = kind
        self._count = context.Value("i", 0)
        self._stop = context.Event()
        self._out: Any = context.Queue()
        info: Any = context.Queue()
        self.process = context.Process(
            target=serve, args=(kind, amqp_url, info, self._count, self._stop, self._out),
            name="mtq-bench-sink", daemon=True,
        )
        self.process.start()
        status, self.port, self.url = info.get(timeout=120)
        if status != "ok":
            self.process.join(timeout=10)
            raise RuntimeError(f"the {kind} sink did not start: {status}")
        self.arrivals: Arrivals | None = None

    def count(self) -> int:
        return int(self._count.value)

    def stop(self) -> Arrivals:
        """Stop recording and collect what arrived (idempotent)."""
        if self.arrivals is None:
            self._stop.set()
            try:
                self.arrivals = self._out.get(timeout=60)
            except Exception:
                self.arrivals = Arrivals()
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.terminate()
        return self.arrivals

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
