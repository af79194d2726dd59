"""One HTTP POST to a pinned address: no redirects, bounded time, bounded bytes.

The POST runs on the event loop (aiohttp), on the kept-alive connections of
:class:`~webhooks.http.connections.ConnectionPools`: it connects to ``Destination.address`` while
the Host header, TLS SNI and certificate check use the original host name. Without pools a
single-use connection is made and closed. No environment proxy is ever consulted, no cookie
kept, no redirect followed. An earlier version ran urllib3 on a thread pool; handing each POST
to a thread and back cost several times the POST itself (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass

import aiohttp
from yarl import URL

from webhooks.http.connections import ConnectionPools, RequestTrace
from webhooks.http.ssrf import Destination

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


async def post(
    destination: Destination, body: bytes, headers: Mapping[str, str], limits: HttpLimits,
    pools: ConnectionPools | None = None,
) -> HttpResult:
    """POST ``body`` to the pinned destination; never raises for network trouble."""
    if pools is not None:
        return await _post(destination, body, headers, limits, pools, kept_alive=True)
    # Kept in the pool (not force-closed on release) so that closing the pool waits for it.
    single = ConnectionPools(ca_certs=limits.ca_certs)
    try:
        return await _post(destination, body, headers, limits, single, kept_alive=False)
    finally:
        await single.close()


async def _post(
    destination: Destination, body: bytes, headers: Mapping[str, str], limits: HttpLimits,
    pools: ConnectionPools, *, kept_alive: bool,
) -> HttpResult:
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=limits.total_timeout_s,
                                    connect=limits.connect_timeout_s)
    context = pools.tls_context(destination) if destination.scheme == "https" else None
    session = pools.session()
    sent = {**headers, "Host": destination.host_header}

    def send(trace: RequestTrace) -> Awaitable[aiohttp.ClientResponse]:
        return session.post(
            _url(destination), data=body, headers=sent, allow_redirects=False,
            timeout=timeout, ssl=context if context is not None else False,
            server_hostname=destination.host if context is not None else None,
            trace_request_ctx=trace,
        )

    try:
        trace = RequestTrace()
        try:
            response = await send(trace)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            if not (kept_alive and trace.reused):
                raise  # a new connection broke: that is this try's answer
            # A kept-alive connection the receiver closed as we sent (or while it answered):
            # once more; the broken one is gone, so on a new connection unless another kept
            # one is ready. Receivers dedupe on webhook-id if it did arrive.
            response = await send(RequestTrace())
        complete = False
        try:
            content, complete = await _read_capped(response, limits.max_response_bytes)
        finally:
            if not complete:
                response.close()  # unread bytes left: this connection cannot carry another
            response.release()
        return HttpResult(
            status=response.status, elapsed_s=time.monotonic() - started,
            retry_after=response.headers.get("Retry-After"), body=content,
            error="" if 200 <= response.status < 300 else f"HTTP {response.status}",
        )
    except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientConnectorSSLError) as exc:
        return HttpResult(status=None, elapsed_s=time.monotonic() - started,
                          error=f"{type(exc).__name__}: {exc}")
    except aiohttp.ClientConnectorError as exc:  # refused, unreachable
        return HttpResult(status=None, elapsed_s=time.monotonic() - started,
                          error=_describe(exc.os_error))
    except TimeoutError as exc:  # aiohttp's connect and total timeouts are TimeoutErrors
        elapsed = time.monotonic() - started
        return HttpResult(status=None, elapsed_s=elapsed, timed_out=True,
                          error=f"timeout after {elapsed:.1f}s: {type(exc).__name__}")
    except aiohttp.ServerDisconnectedError:  # its message is aiohttp's half-parsed response
        return HttpResult(status=None, elapsed_s=time.monotonic() - started,
                          error="ServerDisconnectedError: closed before a whole response")
    except (aiohttp.ClientError, OSError) as exc:
        return HttpResult(status=None, elapsed_s=time.monotonic() - started,
                          error=f"{type(exc).__name__}: {exc}")


def _url(destination: Destination) -> URL:
    address = f"[{destination.address}]" if ":" in destination.address else destination.address
    # The target is sent as the callback spelled it: already encoded, never re-encoded.
    return URL(f"{destination.scheme}://{address}:{destination.port}{destination.target}",
               encoded=True)


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    """Read at most ``cap`` bytes; the rest is never read.

    Returns the bytes and whether the body ended (only then may the connection be reused).
    The request's total timeout bounds the reading, so a server dripping bytes slowly cannot
    keep it alive; the status line already decided the outcome, so a body cut short by it (or
    by a broken connection) changes nothing.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= cap:
            # One byte past the cap tells "ended at the cap" from "more to come".
            chunk = await response.content.read(min(_CHUNK, cap + 1 - size))
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
    except (TimeoutError, aiohttp.ClientError, OSError, asyncio.IncompleteReadError):
        pass
    return b"".join(chunks)[:cap], False


def _describe(error: OSError) -> str:
    reason = os.strerror(error.errno) if error.errno else str(error)
    return f"{type(error).__name__}: {reason}"
