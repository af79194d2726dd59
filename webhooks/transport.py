"""One HTTP POST to a pinned address: no redirects, bounded time, bounded bytes.

urllib3 (the engine under ``requests``) is used directly because pinning needs its pool
arguments: the pool connects to ``Destination.address`` while the Host header, TLS SNI
(``server_hostname``) and certificate check (``assert_hostname``) use the original host name.
The dispatcher passes its :class:`~webhooks.connections.ConnectionPools`, which keeps
connections alive per checked address (keyed by it, so reuse never skips the check); without
one a single-use pool is built and closed. No environment proxy is ever consulted. This module
is blocking; the dispatcher calls it from a thread pool, never from the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import certifi
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from webhooks.connections import ConnectionPools
from webhooks.ssrf import Destination

log = logging.getLogger(__name__)

_CHUNK = 16 * 1024


@dataclass(frozen=True)
class HttpLimits:
    connect_timeout_s: float = 3.0
    total_timeout_s: float = 10.0
    max_response_bytes: int = 64 * 1024
    ca_certs: str | None = None  # None: the certifi bundle, as requests would use


@dataclass(frozen=True)
class HttpResult:
    """What one POST produced. ``status`` is ``None`` when no response arrived."""

    status: int | None
    elapsed_s: float
    error: str = ""
    retry_after: str | None = None
    body: bytes = b""
    timed_out: bool = False


def post(
    destination: Destination, body: bytes, headers: Mapping[str, str], limits: HttpLimits,
    pools: ConnectionPools | None = None,
) -> HttpResult:
    """POST ``body`` to the pinned destination; never raises for network trouble."""
    started = time.monotonic()
    deadline = started + limits.total_timeout_s
    timeout = urllib3.Timeout(
        connect=limits.connect_timeout_s, read=limits.total_timeout_s, total=limits.total_timeout_s
    )
    pool = _pool(destination, limits) if pools is None else pools.pool(destination)
    sent = {**headers, "Host": destination.host_header}

    def send() -> urllib3.BaseHTTPResponse:
        return pool.urlopen("POST", destination.target, body=body, headers=sent,
                            redirect=False, retries=False, preload_content=False,
                            timeout=timeout)

    try:
        try:
            response = send()
        except ProtocolError:
            if pools is None:
                raise
            # A kept-alive connection the receiver closed (or garbled) as we sent: once more,
            # on a fresh connection. Receivers dedupe on webhook-id if it did arrive.
            response = send()
        complete = False
        try:
            content, complete = _read_capped(response, limits.max_response_bytes, deadline)
        except (HTTPError, OSError):
            # The status line already decided the outcome; a body cut short changes nothing.
            content = b""
        finally:
            if not complete:
                response.close()  # unread bytes left: this connection cannot carry another
            response.release_conn()
        return HttpResult(
            status=response.status, elapsed_s=time.monotonic() - started,
            retry_after=response.headers.get("Retry-After"), body=content,
            error="" if 200 <= response.status < 300 else f"HTTP {response.status}",
        )
    except NewConnectionError as exc:  # a subclass of ConnectTimeoutError, but e.g. refused
        return HttpResult(status=None, elapsed_s=time.monotonic() - started, error=_describe(exc))
    except (ConnectTimeoutError, ReadTimeoutError, TimeoutError) as exc:
        return HttpResult(
            status=None, elapsed_s=time.monotonic() - started, timed_out=True,
            error=f"timeout after {time.monotonic() - started:.1f}s: {_describe(exc)}",
        )
    except (HTTPError, OSError) as exc:
        return HttpResult(status=None, elapsed_s=time.monotonic() - started, error=_describe(exc))
    finally:
        if pools is None:
            pool.close()


def _pool(destination: Destination, limits: HttpLimits) -> urllib3.HTTPConnectionPool:
    if destination.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            destination.address, destination.port, maxsize=1, retries=False,
            cert_reqs="CERT_REQUIRED", ca_certs=limits.ca_certs or certifi.where(),
            assert_hostname=destination.host, server_hostname=destination.host,
        )
    return urllib3.HTTPConnectionPool(destination.address, destination.port, maxsize=1,
                                      retries=False)


def _read_capped(response: urllib3.BaseHTTPResponse, cap: int, deadline: float
                 ) -> tuple[bytes, bool]:
    """Read at most ``cap`` bytes, stopping at ``deadline``; the rest is never read.

    Returns the bytes and whether the body ended (only then may the connection be reused).

    ``read1`` returns after one socket read, so a server dripping bytes slowly cannot keep the
    loop alive past the deadline; each read's socket timeout shrinks to the time left.
    """
    chunks: list[bytes] = []
    size = 0
    sock = getattr(response.connection, "sock", None)
    while size <= cap:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if sock is not None:
            sock.settimeout(left)
        # One byte past the cap tells "ended at the cap" from "more to come".
        chunk = response.read1(min(_CHUNK, cap + 1 - size))
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:cap], False


def _describe(exc: BaseException) -> str:
    # urllib3 wraps the cause; the innermost message is the useful one (e.g. refused).
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    return f"{type(exc).__name__}: {exc}"
