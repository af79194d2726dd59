"""Kept-alive connections, one pool per pinned destination, bounded in count and idle time.

A pool is keyed by ``(scheme, host, port, address)``: the address is the one
:func:`webhooks.ssrf.resolve_destination` checked for this very try, so a reused connection
only ever goes to an address that passed the policy moments ago. When DNS answers with another
address, that address is checked first and gets its own pool; the old pool is never used for it
and idles out. On https the pool's TLS context keeps the last session of its destination and
offers it on the next new connection (session resumption), and a kept-alive connection needs no
handshake at all.

Bounds: each pool keeps at most ``per_pool`` idle connections (the per-host ceiling), a
connection idle for ``KEEPALIVE_IDLE_S`` is closed instead of reused (receivers commonly drop
idle connections after 5 s; reusing one the server is closing would fail the delivery), at
most ``max_pools`` destinations are kept (least recently used closed first) and a pool unused
for ``POOL_IDLE_S`` is closed. Blocking, thread-safe: deliveries run on a thread pool.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

from webhooks.ssrf import Destination

KEEPALIVE_IDLE_S = 4.0
POOL_IDLE_S = 60.0
MAX_POOLS = 256

Key = tuple[str, str, int, str]
OnConnect = Callable[[], None]


class _CountingHTTPConnection(HTTPConnection):
    on_connect: OnConnect | None = None
    last_used: float = 0.0

    def connect(self) -> None:
        super().connect()
        if self.on_connect is not None:
            self.on_connect()


class _CountingHTTPSConnection(HTTPSConnection):
    on_connect: OnConnect | None = None
    last_used: float = 0.0

    def connect(self) -> None:
        super().connect()
        if self.on_connect is not None:
            self.on_connect()


class _ResumingContext(ssl.SSLContext):
    """A client TLS context for one destination that offers its last session again."""

    saved: ssl.SSLSession | None = None

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        if kwargs.get("session") is None and self.saved is not None:
            kwargs["session"] = self.saved
        return super().wrap_socket(sock, *args, **kwargs)


class _Reusing:
    """Mixin for both pool classes: idle-bounded reuse and the TLS session kept on release."""

    on_connect: OnConnect | None = None
    idle_s: float = KEEPALIVE_IDLE_S

    def _new_conn(self) -> Any:
        conn = super()._new_conn()  # type: ignore[misc]
        conn.on_connect = self.on_connect
        return conn

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        if conn.sock is not None and time.monotonic() - conn.last_used > self.idle_s:
            conn.close()  # reconnects on use: better than racing the server's idle close
        return conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.last_used = time.monotonic()
            sock = getattr(conn, "sock", None)
            context = getattr(conn, "ssl_context", None)
            if isinstance(sock, ssl.SSLSocket) and isinstance(context, _ResumingContext):
                # Read after the response: TLS 1.3 tickets arrive after the handshake.
                context.saved = sock.session
        super()._put_conn(conn)  # type: ignore[misc]


class _HTTPPool(_Reusing, urllib3.HTTPConnectionPool):
    ConnectionCls = _CountingHTTPConnection


class _HTTPSPool(_Reusing, urllib3.HTTPSConnectionPool):
    ConnectionCls = _CountingHTTPSConnection


class ConnectionPools:
    """The process's kept-alive connections to webhook receivers."""

    def __init__(self, per_pool: int, *, ca_certs: str | None = None,
                 on_connect: OnConnect | None = None, max_pools: int = MAX_POOLS,
                 keepalive_idle_s: float = KEEPALIVE_IDLE_S) -> None:
        self._per_pool = max(1, per_pool)
        self._keepalive_idle_s = keepalive_idle_s
        self._ca_certs = ca_certs
        self._on_connect = on_connect
        self._max_pools = max_pools
        self._pools: OrderedDict[Key, tuple[urllib3.HTTPConnectionPool, float]] = OrderedDict()
        self._lock = threading.Lock()

    def pool(self, destination: Destination) -> urllib3.HTTPConnectionPool:
        key: Key = (destination.scheme, destination.host, destination.port, destination.address)
        now = time.monotonic()
        with self._lock:
            entry = self._pools.pop(key, None)
            pool = entry[0] if entry is not None else self._new_pool(destination)
            self._pools[key] = (pool, now)
            closing = self._expired(now)
        for stale in closing:
            stale.close()
        return pool

    def __len__(self) -> int:
        with self._lock:
            return len(self._pools)

    def close(self) -> None:
        with self._lock:
            pools = [pool for pool, _ in self._pools.values()]
            self._pools.clear()
        for pool in pools:
            pool.close()

    def _expired(self, now: float) -> list[urllib3.HTTPConnectionPool]:
        """Pools to close: idle too long, or beyond the count bound (oldest first)."""
        closing = []
        while self._pools:
            key, (pool, used) = next(iter(self._pools.items()))
            if now - used <= POOL_IDLE_S and len(self._pools) <= self._max_pools:
                break
            del self._pools[key]
            closing.append(pool)
        return closing

    def _new_pool(self, destination: Destination) -> urllib3.HTTPConnectionPool:
        # block=False: the per-host gate bounds concurrency; a burst past the pool size opens
        # extra connections rather than waiting, and only per_pool of them are kept.
        pool: _HTTPPool | _HTTPSPool
        if destination.scheme == "https":
            pool = _HTTPSPool(
                destination.address, destination.port, maxsize=self._per_pool, block=False,
                retries=False, ssl_context=self._tls_context(),
                assert_hostname=destination.host, server_hostname=destination.host,
            )
        else:
            pool = _HTTPPool(destination.address, destination.port, maxsize=self._per_pool,
                             block=False, retries=False)
        pool.on_connect = self._on_connect
        pool.idle_s = self._keepalive_idle_s
        return pool

    def _tls_context(self) -> _ResumingContext:
        context = _ResumingContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=self._ca_certs or certifi.where())
        return context
