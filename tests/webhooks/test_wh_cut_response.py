"""A response cut off mid-way: one POST per try, and a second one only for a kept-alive
connection that broke (once, on a new connection). It was re-sent on fresh connections too:
8 POSTs per attempt (72 over the ladder) against 4 for a reset."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from mtq.core.callback_policy import NetworkPolicy
from mtq.core.topology import PARKED_QUEUE
from tests.webhooks.test_wh_connections import closed_after
from tests.webhooks.whtest import SECRET, broker, dispatching, event_body, eventually, settings_for
from webhooks.delivery import Deliverer, DeliveryConfig
from webhooks.events import ResultMessage
from webhooks.http.transport import HttpLimits
from webhooks.parking import list_parked
from webhooks.policy import Verdict
from webhooks.signing import parse_secrets

ANSWER = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
CUT = b"HTTP/1.1 200 OK\r\nContent-Le"  # the status line and half a header, then closed


class CuttingServer:
    """A loopback HTTP/1.1 server that answers request ``n`` (1-based, over all connections)
    in full (kept alive) when ``answers(n)`` is true, or cuts the response and closes."""

    def __init__(self, answers: Callable[[int], bool]) -> None:
        self.answers = answers
        self.requests = 0
        self.connections = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            buffered = b""
            while True:
                request, buffered = _read_request(connection, buffered)
                if request is None:
                    return
                with self.lock:
                    self.requests += 1
                    answer = self.answers(self.requests)
                if not answer:
                    connection.sendall(CUT)
                    return
                connection.sendall(ANSWER)


def _read_request(connection: socket.socket, buffered: bytes) -> tuple[bytes | None, bytes]:
    """One request (headers and a Content-Length body); ``None`` when the client closed."""
    while b"\r\n\r\n" not in buffered:
        chunk = connection.recv(65536)
        if not chunk:
            return None, b""
        buffered += chunk
    head, _, rest = buffered.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = connection.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return head + rest[:length], rest[length:]


@contextlib.contextmanager
def cutting(answers: Callable[[int], bool]) -> Iterator[CuttingServer]:
    server = CuttingServer(answers)
    try:
        yield server
    finally:
        server.close()


def _deliverer(port: int, quick_retries: int) -> Deliverer:
    config = DeliveryConfig(
        keys=parse_secrets([SECRET]),
        policy=NetworkPolicy(allow_networks=(ipaddress.ip_network("127.0.0.1/32"),),
                             allow_ports=frozenset({port})),
        http=HttpLimits(connect_timeout_s=1.0, total_timeout_s=3.0),
        schedule=(1, 2), quick_retries=quick_retries, quick_wait_max_s=0.1,
    )
    return Deliverer(config, ThreadPoolExecutor(1))


def _event(url: str, n: int) -> ResultMessage:
    return ResultMessage(webhook_id=f"msg_cut{n}", job_id=f"cut-{n}", event_type="job.completed",
                         callback_url=url, body=event_body(f"cut-{n}"), attempt=0)


@pytest.mark.parametrize("quick_retries", [0, 3])
async def test_a_cut_response_on_a_fresh_connection_is_one_post_per_try(
    quick_retries: int,
) -> None:
    with cutting(lambda _n: False) as server:
        async with closed_after(_deliverer(server.port, quick_retries)) as deliverer:
            outcome = await deliverer.deliver(_event(server.url, 1))
        # A failed attempt like a reset: quick retries, then the ladder; one POST per try.
        assert outcome.status is None and outcome.verdict is Verdict.QUICK_RETRY
        assert server.requests == 1 + quick_retries
        assert server.connections == 1 + quick_retries


async def test_a_kept_alive_connection_cut_mid_response_is_tried_once_more() -> None:
    # 1: answered (the connection is kept); 2: cut on that kept connection; 3: answered on a
    # new one; 4: cut (kept connection); 5: cut again on the new one; 6: answered.
    with cutting(lambda n: n in (1, 3, 6)) as server:
        async with closed_after(_deliverer(server.port, 0)) as deliverer:
            assert (await deliverer.try_once(_event(server.url, 1))).status == 204
            assert (await deliverer.try_once(_event(server.url, 2))).status == 204
            assert (server.requests, server.connections) == (3, 2)
            failed = await deliverer.try_once(_event(server.url, 3))
            assert failed.status is None  # once more, not twice more
            assert (server.requests, server.connections) == (5, 3)
            assert (await deliverer.try_once(_event(server.url, 4))).status == 204
            assert server.requests == 6


async def test_a_receiver_that_always_cuts_its_response_is_parked_after_the_ladder(
    amqp_url: str,
) -> None:
    with cutting(lambda _n: False) as server:
        # Two attempts (the ladder is one 1 s step), each a try and one quick retry.
        settings = settings_for(amqp_url, server.port, webhook_retry_schedule_s=(1,),
                                webhook_quick_retries=1)
        async with broker(amqp_url, (1,)) as b, dispatching(settings):
            await b.publish("cut-1", server.url)

            async def parked() -> bool:
                return await b.count(PARKED_QUEUE) == 1
            await eventually(parked, 30, "the event parked")
            [event] = await asyncio.to_thread(list_parked, amqp_url)
        assert event.reason == "retries_exhausted" and event.attempt == 2
        assert server.requests == 4
