"""The loopback webhook receiver: a real HTTP server that records, verifies and answers."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.harness.env import wait_until


@dataclass
class Reply:
    """What the receiver answers to one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay_s: float = 0.0  # before the status line: a slow endpoint
    stream_bytes: int = 0  # after the headers, stream this many extra body bytes
    drip_s: float = 0.0  # pause between streamed chunks
    chunk: int = 65536


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time()
    arrived: float  # time.monotonic(): comparable across processes on Linux
    answered: int | None = None  # status sent back (None: not yet, or the client hung up)
    event: dict[str, Any] | None = None  # the verified payload, when the receiver has a secret
    bad_signature: bool = False

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def job_id(self) -> str:
        return str(self.json()["job_id"])

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


Responder = Callable[[Received, int], Reply]


class LoopbackReceiver:
    """A real HTTP server on a loopback address that records every request it gets.

    ``responder(request, n)`` picks the reply to the ``n``-th request (1-based); without one
    every request gets ``status``. With ``secret`` each request's Standard Webhooks signature
    is verified before the responder runs (``event`` or ``bad_signature`` set), and a bad one
    is answered 400 unless the responder decides otherwise. ``stop`` and ``start`` take it down,
    cutting kept-alive connections as a receiver going down does, and bring it back on the same
    port (connection refused meanwhile).
    """

    def __init__(self, host: str = "127.0.0.1", responder: Responder | None = None, *,
                 secret: str | None = None, tls: ssl.SSLContext | None = None,
                 status: int = 200, path: str = "/hooks", keep_alive: bool = False,
                 port: int = 0) -> None:
        self.host = host
        self.keep_alive = keep_alive  # HTTP/1.1 persistent connections, as real receivers
        self.connections = 0  # TCP connections accepted
        self.tls_resumed = 0  # of those, TLS handshakes that resumed an earlier session
        self.sockets: list[socket.socket] = []  # open connections, cut by stop()
        self.active = 0  # requests being answered right now
        self.peak = 0  # the most requests ever answered at once
        self.tls = tls
        self.status = status
        self.path = path
        self.responder = responder
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.port = port
        self.server: http.server.ThreadingHTTPServer | None = None
        self._verify = _verifier(secret)
        self.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}{self.path}"

    def start(self) -> None:
        server = http.server.ThreadingHTTPServer((self.host, self.port), _handler(self))
        server.daemon_threads = True
        server.request_queue_size = 128
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self.port = int(server.server_address[1])
        self.server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> LoopbackReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def seen(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    def delivered(self) -> list[Received]:
        """Requests answered with 2xx, fully sent."""
        with self.lock:
            return [r for r in self.requests if r.answered and 200 <= r.answered < 300]

    @property
    def received(self) -> list[Received]:
        return self.delivered()

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        """The delivered requests once there are ``count``; AssertionError after ``timeout``."""
        found = wait_until(lambda: len(self.delivered()) >= count, timeout, interval=0.05)
        if not found:
            raise AssertionError(f"expected {count} webhooks, got {len(self.delivered())}")
        return self.delivered()

    def first_by_job(self) -> dict[str, Received]:
        """The first delivered request of each job (later ones are duplicates)."""
        first: dict[str, Received] = {}
        for request in self.delivered():
            first.setdefault(request.job_id, request)
        return first

    def duplicates(self) -> int:
        """Deliveries beyond the first of each ``webhook-id``."""
        delivered = self.delivered()
        return len(delivered) - len({r.webhook_id for r in delivered})

    def _reply_to(self, request: Received) -> Reply:
        if self._verify is not None:
            try:
                request.event = self._verify(request.body, request.headers)
            except Exception:  # any verification failure is a bad signature
                request.bad_signature = True
        with self.lock:
            self.requests.append(request)
            index = len(self.requests)
            self.active += 1
            self.peak = max(self.peak, self.active)
        if self.responder is not None:
            return self.responder(request, index)
        return Reply(400 if request.bad_signature else self.status)


def _verifier(secret: str | None) -> Callable[[bytes, dict[str, str]], Any] | None:
    if secret is None:
        return None
    from standardwebhooks import Webhook

    return Webhook(secret).verify


def _handler(receiver: LoopbackReceiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if receiver.keep_alive else "HTTP/1.0"
        # As real servers do: without it, Nagle and delayed ACKs stall each kept-alive reply.
        disable_nagle_algorithm = receiver.keep_alive

        def setup(self) -> None:
            super().setup()
            with receiver.lock:
                receiver.connections += 1
                receiver.sockets.append(self.connection)
                if getattr(self.connection, "session_reused", False):
                    receiver.tls_resumed += 1

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = Received(self.command, self.path,
                               {k.lower(): v for k, v in self.headers.items()},
                               self.rfile.read(length), time.time(), time.monotonic())
            reply = receiver._reply_to(request)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            with receiver.lock:  # before replying: the client may act on it at once
                request.answered = reply.status
                receiver.active -= 1
            try:
                self._send(reply)
            except OSError:  # the client hung up (timeout or size cap): expected in tests
                with receiver.lock:
                    request.answered = None

        do_GET = do_POST
        do_PUT = do_POST

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            body = b"" if reply.status in (204, 304) else reply.body  # these carry no body
            if reply.stream_bytes:
                self.close_connection = True  # no length: the body ends with the connection
                self.send_header("Connection", "close")
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
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
