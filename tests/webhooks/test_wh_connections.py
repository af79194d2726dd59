"""Kept-alive, pinned connections: reuse, TLS session reuse, and DNS changes checked first."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from mtq.core.callback_policy import NetworkPolicy
from tests.webhooks.test_wh_ssrf import ResolverStub
from tests.webhooks.test_wh_transport import Pki, pinned, pki  # noqa: F401 - the fixture
from tests.webhooks.whtest import SECRET, Endpoint, endpoint, event_body, metric
from webhooks.delivery import Deliverer, DeliveryConfig
from webhooks.events import ResultMessage
from webhooks.http.connections import ConnectionPools
from webhooks.http.transport import HttpLimits, post
from webhooks.metrics import DispatcherMetrics
from webhooks.signing import parse_secrets

NAME = "hooks.example.com"


Holder = TypeVar("Holder", Deliverer, ConnectionPools)


@contextlib.asynccontextmanager
async def closed_after(holder: Holder) -> AsyncIterator[Holder]:
    """``holder``'s connections closed when the block ends, also when an assertion fails:
    a connection left open outlives its test's event loop, and its ResourceWarning surfaces
    in whichever later test the garbage collector happens to run."""
    try:
        yield holder
    finally:
        await holder.close()


def _deliverer(port: int, resolver: ResolverStub, *, dns_ttl_s: float,
               allow: tuple[str, ...] = ("127.0.0.1/32", "127.0.0.2/32"),
               metrics: DispatcherMetrics | None = None) -> Deliverer:
    config = DeliveryConfig(
        keys=parse_secrets([SECRET]),
        policy=NetworkPolicy(
            allow_networks=tuple(ipaddress.ip_network(cidr) for cidr in allow),
            allow_ports=frozenset({port}),
        ),
        http=HttpLimits(connect_timeout_s=0.5, total_timeout_s=2.0),
        schedule=(1, 2), quick_retries=0, dns_ttl_s=dns_ttl_s,
    )
    return Deliverer(config, ThreadPoolExecutor(1), resolver=resolver, metrics=metrics)


def _event(port: int, n: int) -> ResultMessage:
    return ResultMessage(webhook_id=f"msg_{n}", job_id=f"conn-{n}", event_type="job.completed",
                         callback_url=f"http://{NAME}:{port}/hooks", body=event_body(f"conn-{n}"),
                         attempt=0)


@pytest.fixture
def two_addresses() -> Iterator[tuple[Endpoint, Endpoint]]:
    """Two receivers on one port, at 127.0.0.1 and 127.0.0.2: one name, two DNS answers."""
    with endpoint() as first, endpoint("127.0.0.2", port=first.port) as second:
        yield first, second


async def test_webhooks_to_one_host_share_one_kept_alive_connection(
    two_addresses: tuple[Endpoint, Endpoint],
) -> None:
    server, _ = two_addresses
    m = DispatcherMetrics()
    stub = ResolverStub({NAME: ["127.0.0.1"]})
    async with closed_after(_deliverer(server.port, stub, dns_ttl_s=30, metrics=m)) as deliverer:
        for n in range(20):
            assert (await deliverer.try_once(_event(server.port, n))).status == 200
        assert len(server.delivered()) == 20
        assert server.connections == 1
        assert metric(m, "mtq_webhook_connections_opened_total") == 1


async def test_a_dns_change_is_checked_before_any_reuse(
    two_addresses: tuple[Endpoint, Endpoint],
) -> None:
    first, second = two_addresses
    # Each resolution answers the next table: 127.0.0.1, then 127.0.0.2, then 127.0.0.3
    # (outside the allowed networks).
    resolver = ResolverStub({NAME: ["127.0.0.1"]}, {NAME: ["127.0.0.2"]}, {NAME: ["127.0.0.3"]})
    # dns_ttl_s=0: resolve on every try.
    async with closed_after(_deliverer(first.port, resolver, dns_ttl_s=0)) as deliverer:
        assert (await deliverer.try_once(_event(first.port, 1))).status == 200
        assert (await deliverer.try_once(_event(first.port, 2))).status == 200
        # The kept-alive connection to the old address was not reused for the new answer.
        assert [s.job_id for s in first.seen()] == ["conn-1"]
        assert [s.job_id for s in second.seen()] == ["conn-2"]
        blocked = await deliverer.try_once(_event(first.port, 3))
        assert blocked.park_reason == "blocked_destination"
        assert len(first.seen()) == 1 and len(second.seen()) == 1  # no connection reused for it


async def test_answers_are_kept_for_the_ttl_and_dropped_when_the_address_fails(
    two_addresses: tuple[Endpoint, Endpoint],
) -> None:
    first, second = two_addresses
    resolver = ResolverStub({NAME: ["127.0.0.1"]}, {NAME: ["127.0.0.2"]})
    async with closed_after(_deliverer(first.port, resolver, dns_ttl_s=300)) as deliverer:
        for n in range(3):
            assert (await deliverer.try_once(_event(first.port, n))).status == 200
        assert resolver.calls == [NAME]  # one resolution for three webhooks
        first.stop()  # the old address stops answering: refused
        assert (await deliverer.try_once(_event(first.port, 3))).status is None
        assert (await deliverer.try_once(_event(first.port, 4))).status == 200  # resolved again
        assert resolver.calls == [NAME, NAME]
        assert [s.job_id for s in second.seen()] == ["conn-4"]


async def test_tls_connections_are_kept_alive_and_sessions_resumed(pki: Pki) -> None:  # noqa: F811
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert, pki.key)
    with endpoint(tls=context) as server:
        destination = pinned(f"https://{NAME}:{server.port}/", server.port)
        limits = HttpLimits(ca_certs=str(pki.ca))
        async with closed_after(ConnectionPools(ca_certs=str(pki.ca))) as pools:
            for _ in range(5):
                assert (await post(destination, b"{}", {}, limits, pools)).status == 200
            assert server.connections == 1 and server.tls_resumed == 0
        # Connections that may not idle at all: each request opens a new one, and each new
        # handshake after the first resumes the destination's TLS session.
        single_use = ConnectionPools(ca_certs=str(pki.ca), keepalive_idle_s=-1)
        async with closed_after(single_use) as pools:
            for _ in range(3):
                assert (await post(destination, b"{}", {}, limits, pools)).status == 200
            assert server.connections == 4
            assert server.tls_resumed == 2


async def test_pooled_tls_still_checks_the_name(pki: Pki) -> None:  # noqa: F811
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert, pki.key)
    with endpoint(tls=context) as server:
        async with closed_after(ConnectionPools(ca_certs=str(pki.ca))) as pools:
            evil = pinned(f"https://evil.example.com:{server.port}/", server.port,
                          name="evil.example.com")
            result = await post(evil, b"{}", {}, HttpLimits(ca_certs=str(pki.ca)), pools)
            assert result.status is None
            assert "certificate" in result.error.lower() or "hostname" in result.error.lower()
            assert server.seen() == []


async def test_a_tls_connection_is_never_reused_for_another_name(pki: Pki) -> None:  # noqa: F811
    """Two names on one address: the kept-alive connection verified for the first must not
    carry a webhook for the second, whose certificate check would then be skipped."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert, pki.key)
    with endpoint(tls=context) as server:
        async with closed_after(ConnectionPools(ca_certs=str(pki.ca))) as pools:
            limits = HttpLimits(ca_certs=str(pki.ca))
            good = pinned(f"https://{NAME}:{server.port}/", server.port)
            assert (await post(good, b"{}", {}, limits, pools)).status == 200
            evil = pinned(f"https://evil.example.com:{server.port}/", server.port,
                          name="evil.example.com")
            result = await post(evil, b"{}", {}, limits, pools)
            assert result.status is None and "certificate" in result.error.lower()
            assert len(server.seen()) == 1


async def test_a_kept_alive_connection_closed_unanswered_is_tried_once_more_fresh() -> None:
    """A receiver that drops a kept-alive connection instead of answering the next request
    on it: that request goes once more, on a new connection, and is delivered."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    answered: list[int] = []  # the connection number of each answered request

    def serve() -> None:
        for number in (1, 2):
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)  # one small request
                connection.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                answered.append(number)
                if number == 1:
                    connection.recv(65536)  # the second request: dropped, never answered

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    pools = ConnectionPools()
    try:
        destination = pinned(f"http://{NAME}:{port}/", port)
        limits = HttpLimits(connect_timeout_s=1.0, total_timeout_s=3.0)
        assert (await post(destination, b"{}", {}, limits, pools)).status == 204
        assert (await post(destination, b"{}", {}, limits, pools)).status == 204
    finally:
        await pools.close()
        thread.join(timeout=5)  # the server notes an answer after sending it
        listener.close()
    assert answered == [1, 2]
