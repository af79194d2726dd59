"""Blocking broker connections for CLI commands, and the one message for a broker that is down.

Every command that talks to RabbitMQ from the console (``submit``, ``topology``, ``dlq``,
``webhooks list|inspect|redrive``, ``demo``) maps a failed connection through
:func:`unreachable`, so the user sees one line (``mtq: cannot reach RabbitMQ at host:port
(connection refused): is RabbitMQ running? ...``), exit status 2, never a pika traceback.
A broker that blocks publishers (a resource alarm) for longer than the connection's
``blocked_connection_timeout`` (``mtq/client/connect.py``) is one line too, naming the alarm.
"""

from __future__ import annotations

import socket
import weakref
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions

from mtq.client.connect import connect_blocking as connect_nodes
from mtq.core.broker_urls import parse_urls
from mtq.core.errors import BrokerBlocked, BrokerUnreachable

START_HINT = "Start one with `rabbitmq-server -detached` or set MTQ_AMQP_URL."
# What a failed connect can raise: pika's own errors, and socket errors from name resolution.
CONNECT_ERRORS = (pika.exceptions.AMQPError, OSError)


def broker_address(amqp_url: str) -> str:
    """``host:port`` of each node of ``MTQ_AMQP_URL``, never credentials."""
    try:
        urls = parse_urls(amqp_url)
        nodes = [pika.URLParameters(url) for url in urls]
    except Exception:  # pika raises several types for a malformed URL
        return "(unreadable MTQ_AMQP_URL)"
    return ", ".join(f"{params.host}:{params.port}" for params in nodes)


@dataclass
class _Blocked:
    timeout_s: float
    reason: str = ""  # from the broker's Connection.Blocked: "low on memory", "low on disk"


# What each open connection was told when the broker blocked it (the reason is not in pika's
# exception).
_BLOCKED: weakref.WeakKeyDictionary[pika.BlockingConnection, _Blocked] = (
    weakref.WeakKeyDictionary()
)


def unreachable(amqp_url: str, exc: BaseException,
                connection: pika.BlockingConnection | None = None) -> BrokerUnreachable:
    """The one-line error for a connection that failed (or was lost) with ``exc``."""
    where = broker_address(amqp_url)
    if isinstance(exc, pika.exceptions.ConnectionBlockedTimeout):
        return blocked(where, _BLOCKED.get(connection) if connection is not None else None)
    if isinstance(exc, pika.exceptions.ProbableAuthenticationError):
        return BrokerUnreachable(
            f"RabbitMQ at {where} refused the login: check the user and password in MTQ_AMQP_URL"
        )
    if isinstance(exc, pika.exceptions.ProbableAccessDeniedError):
        return BrokerUnreachable(
            f"RabbitMQ at {where} refused the virtual host: check the vhost in MTQ_AMQP_URL"
        )
    return BrokerUnreachable(
        f"cannot reach RabbitMQ at {where} ({_cause(exc)}): is RabbitMQ running? {START_HINT}"
    )


def blocked(where: str, seen: _Blocked | None) -> BrokerBlocked:
    """The one line for publishes the broker blocked until the command gave up."""
    reason = seen.reason if seen is not None else ""
    kinds = [kind for kind in ("memory", "disk") if kind in reason]
    alarm = f"a {' and '.join(kinds)} alarm" if kinds else "a resource alarm"
    waited = f" for {seen.timeout_s:g}s" if seen is not None else ""
    said = f" ({reason})" if reason else ""
    return BrokerBlocked(
        f"RabbitMQ at {where} blocked publishing{waited}: {alarm}{said}; nothing more was "
        f"published. Free {' and '.join(kinds) or 'memory or disk'} on the broker (`rabbitmqctl "
        "status` lists the alarms), then run the command again"
    )


def _cause(exc: BaseException) -> str:
    """The innermost readable reason (``connection refused``, ``cannot resolve the host``)."""
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host: {exc.strerror}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    # pika nests the socket error in its arguments, or in ``.exception`` of connector errors.
    for inner in (*exc.args, getattr(exc, "exception", None), exc.__cause__):
        if isinstance(inner, BaseException):
            return _cause(inner)
    if isinstance(exc, pika.exceptions.StreamLostError | pika.exceptions.ConnectionClosed):
        return "connection lost"
    return type(exc).__name__


def connect_blocking(amqp_url: str, name: str) -> pika.BlockingConnection:
    """A blocking connection named ``name`` in the management UI, or BrokerUnreachable."""
    try:
        for url in parse_urls(amqp_url):
            pika.URLParameters(url)
    except Exception as exc:
        raise BrokerUnreachable(f"MTQ_AMQP_URL is not a usable AMQP URL: {exc}") from exc
    try:  # every node listed, in a shuffled order (mtq/core/broker_urls.py)
        connection, _ = connect_nodes(amqp_url, name)
    except CONNECT_ERRORS as exc:
        raise unreachable(amqp_url, exc) from exc
    seen = _BLOCKED[connection] = _Blocked(connection._impl.params.blocked_connection_timeout)

    def on_blocked(_connection: object, frame: Any) -> None:
        seen.reason = str(getattr(frame.method, "reason", "") or "")

    # On the connection underneath: BlockingConnection runs its own blocked callbacks only
    # between calls, too late when the call that is blocked raises.
    connection._impl.add_on_connection_blocked_callback(on_blocked)
    return connection
