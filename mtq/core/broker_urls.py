"""Which RabbitMQ node a client connects to: one URL, or the nodes of a cluster.

``MTQ_AMQP_URL`` holds one URL (a single broker, a load balancer or a Kubernetes Service) or
several, separated by spaces or commas (the nodes of a cluster). Every client connects through
:mod:`mtq.client.connect` in the order this module gives: the nodes shuffled, so that clients
spread over the cluster, with the node it just lost last, so that a reconnect goes to a
survivor first. A pass over all nodes either connects or raises; the caller's reconnect loop
(with its jittered backoff) decides when to try again. The node a client is on is logged
(without credentials).

With a single URL nothing changes: the one node is tried and its own error is raised.
A comma inside a password must be written ``%2C`` (spaces must always be percent-encoded).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from urllib.parse import quote, unquote, urlsplit

from mtq.core.errors import ConfigError, error_text

SCHEMES = {"amqp": 5672, "amqps": 5671}


class NoBrokerNode(ConnectionError):
    """No node listed in ``MTQ_AMQP_URL`` accepted a connection (several nodes listed)."""


def parse_urls(value: str) -> tuple[str, ...]:
    """The URLs of ``MTQ_AMQP_URL``, in the order written; ConfigError when one is unusable."""
    urls = tuple(item for item in value.replace(",", " ").split() if item)
    if not urls:
        raise ConfigError("MTQ_AMQP_URL is empty: give one amqp:// URL, or several for a cluster")
    for url in urls:
        _check(url)
    return urls


def _check(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ConfigError(f"MTQ_AMQP_URL: {describe(url)!r} is not an amqp:// or amqps:// URL")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ConfigError(f"MTQ_AMQP_URL: {describe(url)!r} has a bad port ({exc})") from exc
    if not parts.hostname:
        raise ConfigError(f"MTQ_AMQP_URL: {describe(url)!r} names no host")


def describe(url: str) -> str:
    """``scheme://host:port/vhost`` without credentials: safe for logs and errors."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        return url.split("@")[-1]  # never echo what might be a password
    try:
        port = parts.port or SCHEMES[parts.scheme]
    except ValueError:
        port = SCHEMES[parts.scheme]
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return f"{parts.scheme}://{parts.hostname}:{port}/{quote(vhost, safe='')}"


def node_order(urls: Sequence[str], *, last: str | None = None,
               rng: random.Random | None = None) -> list[str]:
    """The nodes in a fresh random order, with ``last`` (the node just lost) moved to the end."""
    order = list(urls)
    (rng or random).shuffle(order)
    if last in order and len(order) > 1:
        order.remove(last)
        order.append(last)
    return order


def summary(failures: list[tuple[str, BaseException]]) -> str:
    return "no RabbitMQ node of MTQ_AMQP_URL answered: " + "; ".join(
        f"{describe(url)}: {error_text(exc)}" for url, exc in failures
    )
