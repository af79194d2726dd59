"""Resolve a callback once, check every address, pin the checked one (DNS rebinding guard).

The policy itself (which destinations are allowed) is :mod:`mtq.core.callback_policy`. Here the
host is resolved once, every address is checked against it, and the connection goes to the
checked address (``Destination.address``); DNS is not consulted again for that request, so an
answer that changes between check and connect cannot redirect it. :class:`CachingResolver`
re-resolves on a schedule (``MTQ_WEBHOOK_DNS_TTL_S``) rather than on every try; its answers are
checked again on every try all the same.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mtq.core.callback_policy import (
    DEFAULT_PORTS,
    BlockedDestination,
    IPAddress,
    NetworkPolicy,
    ParsedCallback,
    UnusableCallback,
    address_problem,
    checked_literal,
)
from mtq.core.errors import TransientError

# (host, port) -> IP address strings, in preference order. Tests inject stubs.
Resolver = Callable[[str, int], Sequence[str]]


class ResolutionFailed(TransientError):
    """DNS gave no answer right now; worth retrying later."""


class NotCached(LookupError):
    """:meth:`CachingResolver.cached` has no live answer: a lookup is needed."""


@dataclass(frozen=True)
class Destination:
    """A checked callback: connect to ``address`` but speak to ``host`` (Host header, SNI)."""

    scheme: str
    host: str
    port: int
    address: str
    target: str  # path and query, as sent on the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver returns, de-duplicated, in its order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolutionFailed(f"cannot resolve {host}: {exc}") from exc
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]).split("%", 1)[0], None)
    return list(seen)


def resolve_destination(
    url: str, policy: NetworkPolicy, resolver: Resolver = system_resolver
) -> Destination:
    """Check ``url``, resolve it once, check every address, and pin the first.

    Raises BlockedDestination (permanent), UnusableCallback (permanent) or ResolutionFailed
    (transient).
    """
    parsed, literal, host = _checked_callback(url, policy)
    addresses: list[IPAddress] = [literal] if literal is not None else _resolve(
        host, parsed.port, resolver)
    for address in addresses:
        problem = address_problem(address, policy)
        if problem is not None:
            raise BlockedDestination(f"{host} resolves to {problem}")
    return Destination(
        scheme=parsed.scheme, host=host.strip("[]"), port=parsed.port,
        address=str(addresses[0]), target=parsed.target,
    )


def _checked_callback(url: str, policy: NetworkPolicy
                      ) -> tuple[ParsedCallback, IPAddress | None, str]:
    """The URL's own checks (kept per URL by :func:`checked_literal`), the literal address
    if it is one, and the host name to resolve; the DNS answers are checked on every try."""
    parsed, literal = checked_literal(url, policy)
    if literal is not None:
        return parsed, literal, parsed.host if ":" in parsed.host else str(literal)
    try:
        host = parsed.host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UnusableCallback(f"host {parsed.host!r} is not a valid domain name") from exc
    return parsed, None, host


def _resolve(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    answers = list(resolver(host, port))
    if not answers:
        raise ResolutionFailed(f"{host} resolved to no addresses")
    addresses = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))
        except ValueError as exc:
            raise ResolutionFailed(f"{host} resolved to {answer!r}, not an address") from exc
    return addresses


class CachingResolver:
    """A resolver that re-resolves each ``(host, port)`` on a schedule, not on every try.

    Only the DNS answer is cached: :func:`resolve_destination` still checks every address on
    every try, so a cached answer is never used unchecked. ``ttl_s`` 0 resolves every time.
    ``forget`` drops a host's answer (its connection failed: the address may have changed).
    """

    def __init__(self, inner: Resolver, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 4096) -> None:
        self._inner = inner
        self._ttl_s = ttl_s
        self._clock = clock
        self._max_entries = max_entries
        self._answers: dict[tuple[str, int], tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> Sequence[str]:
        try:
            return self.cached(host, port)
        except NotCached:
            pass
        answer = tuple(self._inner(host, port))
        if self._ttl_s > 0 and answer:
            with self._lock:
                if len(self._answers) >= self._max_entries:
                    self._answers.clear()  # a bound, not a policy: answers are cheap to redo
                self._answers[(host, port)] = (self._clock() + self._ttl_s, answer)
        return answer

    def cached(self, host: str, port: int) -> Sequence[str]:
        """The live cached answer, without a lookup; raises :class:`NotCached` if none."""
        with self._lock:
            cached = self._answers.get((host, port))
        if cached is None or self._clock() >= cached[0]:
            raise NotCached(host)
        return cached[1]

    def forget(self, host: str) -> None:
        with self._lock:
            for key in [key for key in self._answers if key[0] == host]:
                del self._answers[key]
