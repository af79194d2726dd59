"""Kept-alive connections to webhook receivers, on the event loop, pinned to checked addresses.

One :class:`aiohttp.ClientSession` per process holds the connections. A request is sent to the
address :func:`webhooks.http.ssrf.resolve_destination` checked for this very try (the URL's host is
that address), with the Host header, TLS SNI and certificate check on the callback's own name
(``server_hostname``). aiohttp keys its kept-alive connections by address, port and TLS
context, and each https destination has a context of its own, so a reused connection only
ever goes to an address that passed the policy moments ago, and a TLS connection made for one
name is never used for another (older aiohttp releases leave the server name out of the key).
When DNS answers with another address, that address is checked first and gets its own
connections; the old ones idle out.

On https each destination ``(host, port, address)`` has its own TLS context, which keeps the
last session of its destination and offers it on the next new connection (session
resumption); a kept-alive connection needs no handshake at all.

Bounds: a connection idle for ``KEEPALIVE_IDLE_S`` is closed instead of reused (receivers
commonly drop idle connections after 5 s; reusing one the server is closing would fail the
delivery); at most ``max_pools`` TLS contexts are kept (least recently used dropped first).
How many connections are open at once is bounded where concurrency is decided: the per-host
gates and ``MTQ_WEBHOOK_CONCURRENCY``. Nothing here blocks: the session belongs to the event
loop that first asked for it.

A request passes a :class:`RequestTrace`: it learns whether the request went out on a
kept-alive connection, the only case where a broken connection is worth one more send.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aiohttp
import certifi

from webhooks.http.ssrf import Destination

KEEPALIVE_IDLE_S = 4.0
MAX_POOLS = 256

Key = tuple[str, int, str]
OnConnect = Callable[[], None]


class _ResumingContext(ssl.SSLContext):
    """A client TLS context for one destination that offers its last session again.

    asyncio's TLS transport wraps memory BIOs (``wrap_bio``), never sockets. The session is
    read from the previous connection when the next one starts, not when the previous one
    is handed back: by then its TLS 1.3 tickets (sent after the handshake) have arrived."""

    saved: ssl.SSLSession | None = None
    _latest: ssl.SSLObject | None = None

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        if self._latest is not None and self._latest.session is not None:
            self.saved = self._latest.session
        if kwargs.get("session") is None and self.saved is not None:
            kwargs["session"] = self.saved
        tls = super().wrap_bio(*args, **kwargs)
        self._latest = tls
        return tls


class RequestTrace:
    """One request's view of its connection (aiohttp's ``trace_request_ctx``)."""

    def __init__(self) -> None:
        self.reused = False  # sent on a kept-alive connection, not a new one


async def _on_reuse(_session: object, context: Any, _params: object) -> None:
    trace = context.trace_request_ctx
    if isinstance(trace, RequestTrace):
        trace.reused = True


class ConnectionPools:
    """The process's kept-alive connections to webhook receivers.

    ``keepalive_idle_s`` below 0 turns reuse off: every request opens its own connection.
    """

    def __init__(self, *, ca_certs: str | None = None, on_connect: OnConnect | None = None,
                 max_pools: int = MAX_POOLS,
                 keepalive_idle_s: float = KEEPALIVE_IDLE_S) -> None:
        self._keepalive_idle_s = keepalive_idle_s
        self._ca_certs = ca_certs
        self._on_connect = on_connect
        self._max_pools = max_pools
        self._contexts: OrderedDict[Key, _ResumingContext] = OrderedDict()
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The shared session, made on first use inside the running event loop."""
        if self._session is None or self._session.closed:
            self._session = self._new_session()
        return self._session

    def tls_context(self, destination: Destination) -> _ResumingContext:
        """The TLS context of ``destination``: one per checked address and name."""
        key: Key = (destination.host, destination.port, destination.address)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = _ResumingContext(ssl.PROTOCOL_TLS_CLIENT)
            context.load_verify_locations(cafile=self._ca_certs or certifi.where())
        self._contexts.move_to_end(key)  # the least recently used go first
        while len(self._contexts) > self._max_pools:
            self._contexts.popitem(last=False)  # its connections idle out on their own
        return context

    async def close(self) -> None:
        """Close every connection held; when this returns, their sockets are gone.

        TLS connections are aborted rather than shut down: a graceful close waits for the
        receiver's close_notify (up to asyncio's 30 s), so a receiver could hold the close, and
        an event loop closed meanwhile would leave the socket to the garbage collector.
        aiohttp waits for each connection it holds to be lost; a force-closed connection is
        not held, hence the turn of the loop after."""
        if self._session is not None:
            connector = self._session.connector
            if connector is not None:
                await connector.close(abort_ssl=True)
            await self._session.close()
            await asyncio.sleep(0)
        self._contexts.clear()

    def _new_session(self) -> aiohttp.ClientSession:
        reuse = self._keepalive_idle_s >= 0
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=0,  # concurrency is the host gates' and the setting's
            force_close=not reuse,
            keepalive_timeout=self._keepalive_idle_s if reuse else None,
        )
        # A trace config costs every request some work: only when connections are kept alive
        # (a reused one is told apart) or counted.
        tracing: list[aiohttp.TraceConfig] = []
        if reuse or self._on_connect is not None:
            tracing.append(self._trace_config(reuse))
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # no receiver's cookie reaches another job
            auto_decompress=False,  # what we read is capped in bytes on the wire
            trust_env=False,  # never an environment proxy
            trace_configs=tracing,
            skip_auto_headers=("Accept-Encoding",),
        )

    def _trace_config(self, reuse: bool) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()
        if reuse:
            config.on_connection_reuseconn.append(_on_reuse)
        if self._on_connect is not None:
            on_connect = self._on_connect

            async def opened(*_args: object) -> None:
                on_connect()

            config.on_connection_create_end.append(opened)
        return config
