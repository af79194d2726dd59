"""Connecting to RabbitMQ: one pass over the nodes of ``MTQ_AMQP_URL`` in the order
:mod:`mtq.core.broker_urls` gives, for aio-pika (worker, dispatcher, ``mtq topology``) and for
pika (the console commands). The caller's reconnect loop decides when to try again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from urllib.parse import urlsplit

import aio_pika
import aio_pika.exceptions
import pika
import pika.exceptions
from aio_pika.abc import AbstractConnection, AbstractRobustConnection
from yarl import URL

from mtq.core.broker_urls import NoBrokerNode, describe, node_order, parse_urls, summary
from mtq.core.errors import error_text

log = logging.getLogger(__name__)


# -- aio-pika (worker, dispatcher, mtq topology) ---------------------------------------------------


async def connect(amqp_url: str, name: str, *, timeout: float | None = None,
                  last: str | None = None,
                  rng: random.Random | None = None) -> tuple[AbstractConnection, str]:
    """One pass over the nodes: the first connection that opens, and the URL of its node."""
    urls = parse_urls(amqp_url)
    failures: list[tuple[str, BaseException]] = []
    for url in node_order(urls, last=last, rng=rng):
        try:
            connection = await aio_pika.connect(
                url, timeout=timeout, client_properties={"connection_name": name}
            )
        except (*aio_pika.exceptions.CONNECTION_EXCEPTIONS, asyncio.TimeoutError) as exc:
            if len(urls) == 1:
                raise
            log.info("RabbitMQ node %s: %s", describe(url), error_text(exc))
            failures.append((url, exc))
            continue
        log.info("%s connected to RabbitMQ node %s", name, describe(url))
        return connection, url
    raise NoBrokerNode(summary(failures)) from failures[-1][1]


async def connect_robust(amqp_url: str, name: str, *,
                         rng: random.Random | None = None) -> AbstractRobustConnection:
    """aio-pika's robust connection, moved to another node whenever it is down.

    The robust connection retries the URL it was opened with; on a cluster that node may be
    gone for good, so each time the connection closes under us, and every reconnect interval
    while it stays down, the next node of a fresh order is put in its place.
    """
    urls = parse_urls(amqp_url)
    failures: list[tuple[str, BaseException]] = []
    for url in node_order(urls, rng=rng):
        try:
            connection = await aio_pika.connect_robust(
                url, client_properties={"connection_name": name}
            )
        except aio_pika.exceptions.CONNECTION_EXCEPTIONS as exc:
            if len(urls) == 1:
                raise
            log.info("RabbitMQ node %s: %s", describe(url), error_text(exc))
            failures.append((url, exc))
            continue
        log.info("%s connected to RabbitMQ node %s", name, describe(url))
        if len(urls) > 1 and isinstance(connection, aio_pika.RobustConnection):
            _NodeRotation(connection, urls, url, name, rng).attach()
        return connection
    raise NoBrokerNode(summary(failures)) from failures[-1][1]


class _NodeRotation:
    """Points a robust connection at the next node each time it closes under us.

    aio-pika calls the close callbacks both when a live connection is lost and when a
    reconnect attempt fails, so every attempt after a loss goes to the next node of a fresh
    order (the node just lost last).
    """

    def __init__(self, connection: aio_pika.RobustConnection, urls: Sequence[str], current: str,
                 name: str, rng: random.Random | None) -> None:
        self._connection = connection
        self._urls = urls
        self._current = current
        self._name = name
        self._rng = rng
        self._pending: list[str] = []
        self._up = True

    def attach(self) -> None:
        self._connection.close_callbacks.add(self._on_close)
        self._connection.reconnect_callbacks.add(self._on_reconnect)

    def _on_close(self, *_: object) -> None:
        if self._connection.close_called:  # closed on purpose: nothing to reconnect
            return
        lost, was_up, self._up = self._current, self._up, False
        if not self._pending:
            self._pending = node_order(self._urls, last=lost, rng=self._rng)
        self._current = self._pending.pop(0)
        self._connection.url = URL(self._current)  # what the next attempt connects to
        log.log(logging.WARNING if was_up else logging.INFO,
                "%s: no connection via RabbitMQ node %s; next attempt via %s", self._name,
                describe(lost), describe(self._current))

    def _on_reconnect(self, *_: object) -> None:
        self._pending, self._up = [], True
        log.info("%s reconnected to RabbitMQ node %s", self._name, describe(self._current))


# -- pika (mtq submit, mtq dlq, mtq webhooks) ------------------------------------------------------

# Under a memory or disk alarm RabbitMQ stops reading from publishing connections; without a
# limit a console command (submit, redrive) would wait for its confirm forever. After this long
# blocked, pika closes the connection (ConnectionBlockedTimeout) and the command says why in one
# line (mtq/client/broker.py). An MTQ_AMQP_URL may set its own: ?blocked_connection_timeout=S.
BLOCKED_TIMEOUT_S = 60.0


def connect_blocking(amqp_url: str, name: str,
                     rng: random.Random | None = None) -> tuple[pika.BlockingConnection, str]:
    """One pass over the nodes with pika's blocking connection; raises AMQPConnectionError."""
    urls = parse_urls(amqp_url)
    failures: list[tuple[str, BaseException]] = []
    for url in node_order(urls, rng=rng):
        params = pika.URLParameters(url)
        params.client_properties = {"connection_name": name}
        if "blocked_connection_timeout" not in urlsplit(url).query:
            params.blocked_connection_timeout = BLOCKED_TIMEOUT_S
        try:
            connection = pika.BlockingConnection(params)
        except pika.exceptions.AMQPConnectionError as exc:
            if len(urls) == 1:
                raise
            failures.append((url, exc))
            continue
        log.debug("%s connected to RabbitMQ node %s", name, describe(url))
        return connection, url
    raise pika.exceptions.AMQPConnectionError(summary(failures)) from failures[-1][1]
