"""Helpers for the webhooks tests: programmable loopback endpoints, a broker client, waits."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import http.server
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel

from mtq.events import encode_json, result_headers, webhook_id
from mtq.settings import Settings
from mtq.topology import RESULTS_EXCHANGE, RESULTS_ROUTING_KEY, declare_results_topology
from webhooks.dispatcher import run_dispatcher
from webhooks.metrics import DispatcherMetrics
from webhooks.ssrf import Resolver, system_resolver

SECRET = "whsec_" + base64.b64encode(b"mtq-webhooks-test-secret-0123456").decode()
SECRET_NEXT = "whsec_" + base64.b64encode(b"mtq-webhooks-next-secret-abcdefg").decode()
SCHEDULE = (1, 2)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay_s: float = 0.0  # before the status line: a slow endpoint
    stream_bytes: int = 0  # after the headers, stream this many extra body bytes
    drip_s: float = 0.0  # pause between streamed chunks
    chunk: int = 65536


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int | None = None  # the status sent back (None: not sent, or client hung up)

    @property
    def job_id(self) -> str:
        import json

        value: str = json.loads(self.body)["job_id"]
        return value


Behaviour = Callable[[Seen, int], Reply]


class Endpoint:
    """A real HTTP server on a loopback address that records every request it gets.

    ``behaviour(request, n)`` picks the reply for the ``n``-th request (1-based). ``stop`` and
    ``start`` take it down and bring it back on the same port (connection refused meanwhile).
    """

    def __init__(self, host: str = "127.0.0.1", behaviour: Behaviour | None = None,
                 tls: ssl.SSLContext | None = None, port: int = 0) -> None:
        self.host = host
        self.tls = tls
        self.behaviour: Behaviour = behaviour or (lambda _seen, _n: Reply())
        self.requests: list[Seen] = []
        self.connections = 0  # TCP connections accepted (HTTP/1.1 keep-alive reuses them)
        self.tls_resumed = 0  # of those, TLS handshakes that resumed an earlier session
        self.sockets: list[socket.socket] = []  # open connections, cut by stop()
        self.active = 0  # requests being answered right now
        self.peak = 0  # the most requests ever answered at once
        self.lock = threading.Lock()
        self.port = port
        self._server: http.server.ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}/hooks"

    def start(self) -> None:
        server = http.server.ThreadingHTTPServer((self.host, self.port), self._handler())
        server.daemon_threads = True
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        """Stop listening and cut the kept-alive connections, like a receiver going down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def seen(self) -> list[Seen]:
        with self.lock:
            return list(self.requests)

    def delivered(self) -> list[Seen]:
        """Requests answered with 2xx, fully sent."""
        with self.lock:
            return [s for s in self.requests if s.answered and 200 <= s.answered < 300]

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:  # noqa: C901 (nested handler)
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers speak
            disable_nagle_algorithm = True  # as real servers do (else delayed ACKs stall replies)

            def setup(self) -> None:
                super().setup()
                with endpoint.lock:
                    endpoint.connections += 1
                    endpoint.sockets.append(self.connection)
                    if getattr(self.connection, "session_reused", False):
                        endpoint.tls_resumed += 1

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()},
                            self.rfile.read(length), time.time())
                with endpoint.lock:
                    endpoint.requests.append(seen)
                    index = len(endpoint.requests)
                    endpoint.active += 1
                    endpoint.peak = max(endpoint.peak, endpoint.active)
                reply = endpoint.behaviour(seen, index)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                with endpoint.lock:  # before replying: the client may act on it at once
                    seen.answered = reply.status
                    endpoint.active -= 1
                try:
                    self._reply(reply)
                except OSError:  # the client hung up (timeout or size cap): expected in tests
                    with endpoint.lock:
                        seen.answered = None

            def _reply(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if reply.stream_bytes:
                    self.close_connection = True  # no length: the body ends with the connection
                    self.send_header("Connection", "close")
                elif reply.status in (204, 304):
                    reply = dataclasses.replace(reply, body=b"")  # these never carry a body
                else:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                sent = 0
                chunk = b"x" * reply.chunk
                while sent < reply.stream_bytes:
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    if reply.drip_s:
                        time.sleep(reply.drip_s)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def endpoint(host: str = "127.0.0.1", behaviour: Behaviour | None = None,
             tls: ssl.SSLContext | None = None, port: int = 0) -> Iterator[Endpoint]:
    server = Endpoint(host, behaviour, tls, port)
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def settings_for(amqp_url: str, *ports: int, **changes: Any) -> Settings:
    """Fast test settings: loopback exempted, short ladder, short timeouts, no quick retries."""
    base = Settings(
        amqp_url=amqp_url,
        webhook_secret=(SECRET,),
        webhook_allow_networks=("127.0.0.0/8",),
        webhook_allow_ports=(80, 443, *ports),
        webhook_retry_schedule_s=SCHEDULE,
        webhook_quick_retries=0,
        webhook_timeout_s=2.0,
        webhook_connect_timeout_s=1.0,
        dispatcher_prefetch=16,
        drain_timeout_s=10.0,
        metrics_port=0,  # no probe server unless a test asks for one
    )
    return base.replace(**changes)


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 20.0,
                     what: str = "condition") -> None:
    """Poll ``check`` until true; fail after ``timeout`` seconds. Never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def wait_sync(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def event_body(job_id: str, event_type: str = "job.completed") -> bytes:
    if event_type == "job.failed":
        return encode_json({"type": event_type, "job_id": job_id,
                             "error": {"code": "internal_error", "message": "boom"},
                             "metadata": {}})
    return encode_json({"type": event_type, "job_id": job_id, "source_lang": "en",
                         "target_lang": "de", "translations": ["Hallo Welt."],
                         "model": {"name": "tiny", "revision": "0"}, "metadata": {"k": "ü"},
                         "stats": {"segments": 1, "queue_ms": 0, "compute_ms": 1}})


class Broker:
    """What a worker does (publish results with confirms) plus queue peeking for asserts."""

    def __init__(self, channel: AbstractChannel) -> None:
        self.channel = channel

    async def publish(self, job_id: str, callback_url: str, event_type: str = "job.completed",
                      headers: dict[str, Any] | None = None) -> str:
        msg_id = webhook_id(job_id, event_type)
        exchange = await self.channel.get_exchange(RESULTS_EXCHANGE)
        message = aio_pika.Message(
            body=event_body(job_id, event_type),
            headers=headers if headers is not None
            else dict[str, Any](result_headers(job_id, event_type, callback_url)),
            content_type="application/json", message_id=msg_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await exchange.publish(message, routing_key=RESULTS_ROUTING_KEY)
        return msg_id

    async def count(self, queue: str) -> int:
        """Ready messages in ``queue``. (A robust channel caches passive declares, so the raw
        channel is asked.)"""
        channel = await self.channel.get_underlay_channel()
        declared = await channel.queue_declare(queue, passive=True)
        assert declared.message_count is not None
        return declared.message_count


@asynccontextmanager
async def broker(amqp_url: str, schedule: tuple[int, ...] = SCHEDULE,
                 delivery_limit: int = 10) -> AsyncIterator[Broker]:
    connection = await aio_pika.connect_robust(
        amqp_url, client_properties={"connection_name": "webhooks-test-publisher"}
    )
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare_results_topology(channel, schedule, delivery_limit)
        yield Broker(channel)


@asynccontextmanager
async def dispatching(settings: Settings, resolver: Resolver = system_resolver,
                      metrics: DispatcherMetrics | None = None
                      ) -> AsyncIterator[asyncio.Task[int]]:
    """An in-process dispatcher on this event loop, stopped (drained) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_dispatcher(settings, stop=stop, resolver=resolver, handle_signals=False,
                       metrics=metrics)
    )
    try:
        yield task
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


def run_cli(argv: list[str], settings: Settings) -> int:
    """Run a ``mtq`` subcommand from webhooks.cli the way mtq.cli would."""
    import argparse

    from webhooks.cli import register

    parser = argparse.ArgumentParser(prog="mtq")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args, settings)
    return result


def metric(metrics: DispatcherMetrics, name: str, **labels: str) -> float:
    """One sample of a dispatcher's own registry (0 when never recorded)."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


@contextmanager
def pika_channel(amqp_url: str) -> Iterator[Any]:
    """A blocking channel for sync tests (publishing, counting, peeking)."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        yield connection.channel()
    finally:
        connection.close()


def counts(amqp_url: str, *queues: str) -> dict[str, int]:
    with pika_channel(amqp_url) as channel:
        return {q: channel.queue_declare(q, passive=True).method.message_count for q in queues}


def declare_topology(amqp_url: str, schedule: tuple[int, ...] = SCHEDULE) -> None:
    async def declare() -> None:
        async with broker(amqp_url, schedule):
            pass
    asyncio.run(declare())
