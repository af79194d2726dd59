"""MTQ_AMQP_URL with one or several nodes: parsing, order, and connecting (mtq/core/broker_urls.py).

The connection tests use the local RabbitMQ for the node that answers and a port where
nothing listens for a node that is down.
"""

from __future__ import annotations

import asyncio
import random
from urllib.parse import urlsplit, urlunsplit

import pika.exceptions
import pytest

from mtq.client.connect import connect, connect_blocking, connect_robust
from mtq.core.broker_urls import NoBrokerNode, describe, node_order, parse_urls
from mtq.core.errors import ConfigError
from tests.harness import close_connections, free_port, vhost_of, wait_until

A = "amqp://guest:guest@10.0.0.1:5672/%2F"
B = "amqp://guest:guest@10.0.0.2:5672/%2F"
C = "amqps://guest:secret@rabbit-2.rabbit.svc:5671/mtq"


def test_one_url_is_one_node() -> None:
    assert parse_urls(A) == (A,)


@pytest.mark.parametrize("value", [f"{A} {B} {C}", f"{A},{B},{C}", f" {A}, {B}\n\t{C} ,"])
def test_several_urls_split_on_spaces_and_commas(value: str) -> None:
    assert parse_urls(value) == (A, B, C)


@pytest.mark.parametrize("value, words", [
    ("", "empty"),
    (" , ", "empty"),
    ("http://guest:hunter2@host:5672/", "not an amqp"),
    (f"{A} rabbit-2:5672", "not an amqp"),
    ("amqp://guest:hunter2@host:56x72/", "bad port"),
    ("amqp:///vhost", "names no host"),
])
def test_unusable_urls_are_a_one_line_error_without_the_password(value: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_urls(value)
    message = str(raised.value)
    assert words in message and "\n" not in message
    assert "hunter2" not in message


def test_describe_drops_credentials_and_names_the_vhost() -> None:
    assert describe(A) == "amqp://10.0.0.1:5672/%2F"
    assert describe("amqp://u:p@host") == "amqp://host:5672/%2F"
    assert describe(C) == "amqps://rabbit-2.rabbit.svc:5671/mtq"
    assert "p@" not in describe("amqp://u:p@host")


def test_order_is_shuffled_and_complete() -> None:
    urls = [f"amqp://h{n}" for n in range(5)]
    orders = {tuple(node_order(urls, rng=random.Random(seed))) for seed in range(20)}
    assert len(orders) > 1, "every client would pick the same first node"
    assert all(sorted(order) == sorted(urls) for order in orders)


def test_the_node_just_lost_goes_last() -> None:
    for seed in range(20):
        order = node_order([A, B, C], last=B, rng=random.Random(seed))
        assert order[-1] == B and sorted(order) == sorted([A, B, C])
    assert node_order([A], last=A) == [A]


# -- connecting (local RabbitMQ) -------------------------------------------------------------------


def _down(url: str) -> str:
    """The same URL on a port where nothing listens: a node that is down."""
    parts = urlsplit(url)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{free_port()}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))



@pytest.mark.integration
async def test_aio_connect_skips_a_node_that_is_down(amqp_url: str) -> None:
    dead = _down(amqp_url)
    for seed in range(3):
        connection, node = await connect(f"{dead} {amqp_url}", "mtq-test", timeout=10,
                                         rng=random.Random(seed))
        try:
            assert node == amqp_url
            channel = await connection.channel()
            await channel.close()
        finally:
            await connection.close()


@pytest.mark.integration
async def test_aio_connect_names_every_node_when_none_answers(amqp_url: str) -> None:
    first, second = _down(amqp_url), _down(amqp_url)
    with pytest.raises(NoBrokerNode) as raised:
        await connect(f"{first},{second}", "mtq-test", timeout=5)
    assert describe(first) in str(raised.value) and describe(second) in str(raised.value)
    assert "guest:guest" not in str(raised.value)


@pytest.mark.integration
async def test_aio_connect_with_one_url_raises_its_own_error(amqp_url: str) -> None:
    with pytest.raises(ConnectionError) as raised:
        await connect(_down(amqp_url), "mtq-test", timeout=5)
    assert not isinstance(raised.value, NoBrokerNode)


@pytest.mark.integration
def test_blocking_connect_skips_a_node_that_is_down(amqp_url: str) -> None:
    connection, node = connect_blocking(f"{_down(amqp_url)} {amqp_url}", "mtq-test")
    try:
        assert node == amqp_url and connection.channel().is_open
    finally:
        connection.close()
    with pytest.raises(pika.exceptions.AMQPConnectionError, match="no RabbitMQ node"):
        connect_blocking(f"{_down(amqp_url)} {_down(amqp_url)}", "mtq-test")


@pytest.mark.integration
async def test_robust_connection_moves_to_a_node_that_answers(amqp_url: str) -> None:
    """Connection lost, the next try goes to a dead node: it must come back to a live one."""
    fast = f"{amqp_url}?reconnect_interval=0.5"
    dead = f"{_down(amqp_url)}?reconnect_interval=0.5"
    connection = await connect_robust(f"{fast} {dead}", "mtq-test-robust",
                                      rng=random.Random(0))
    try:
        reconnected = asyncio.Event()
        connection.reconnect_callbacks.add(lambda *_: reconnected.set())
        for _ in range(3):
            reconnected.clear()
            await asyncio.to_thread(close_connections, vhost_of(amqp_url))
            await asyncio.wait_for(reconnected.wait(), 60)
            assert str(connection.url.port) == str(urlsplit(amqp_url).port or 5672)
            channel = await connection.channel()
            await channel.close()
    finally:
        await connection.close()
    assert wait_until(lambda: connection.is_closed, 5)


# -- settings and topology ---------------------------------------------------------------------


def test_settings_accept_a_list_of_nodes_and_refuse_a_bad_one() -> None:
    from mtq.core.settings import Settings

    settings = Settings.from_env({"MTQ_AMQP_URL": f"{A}, {B}"})
    assert parse_urls(settings.amqp_url) == (A, B)
    with pytest.raises(ConfigError, match="MTQ_AMQP_URL"):
        Settings.from_env({"MTQ_AMQP_URL": f"{A} rabbit-2:5672"})
    with pytest.raises(ConfigError, match="MTQ_QUORUM_INITIAL_GROUP_SIZE"):
        Settings.from_env({"MTQ_QUORUM_INITIAL_GROUP_SIZE": "-1"})


@pytest.mark.integration
async def test_topology_declares_the_group_size_on_every_queue(amqp_url: str) -> None:
    """Declared with a size, every mtq queue refuses a redeclaration without it (and the
    other way round): the size is on all of them, and all processes must agree on it."""
    import aio_pika

    from mtq.client.declare import declare_all
    from mtq.core.settings import Settings
    from mtq.core.topology import declare_job_topology, declare_results_topology

    sized = Settings(amqp_url=f"{_down(amqp_url)} {amqp_url}", quorum_initial_group_size=1,
                     webhook_retry_schedule_s=(1, 2))
    await declare_all(sized)
    await declare_all(sized)  # the same arguments again: a no-op
    connection = await aio_pika.connect(amqp_url)
    try:
        for declare in (
            lambda channel: declare_job_topology(channel, sized.routes, sized.delivery_limit),
            lambda channel: declare_results_topology(channel, (1, 2), sized.delivery_limit),
        ):
            channel = await connection.channel()
            with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed,
                               match="x-quorum-initial-group-size"):
                await declare(channel)
    finally:
        await connection.close()
