"""Waiting for RabbitMQ: the jittered backoff of every reconnect loop, and the wait at start.

A worker or dispatcher may start while the broker is down (a broker restart, a node being
replaced, everything deployed at once). Exiting would make the pod crash-loop, and a worker
would load its model again on every restart; so a service keeps trying for
``MTQ_BROKER_WAIT_S`` (alive but not ready meanwhile), one log line per attempt, and only then
stops with one line (:class:`~mtq.core.errors.BrokerUnreachable`). The waits between attempts
are the reconnect backoff: 0.5 s doubling up to ``MTQ_RECONNECT_MAX_DELAY_S``, each drawn from
the upper half of the step, so that pods started together do not retry in step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mtq.core.broker_urls import describe, parse_urls
from mtq.core.errors import BrokerUnreachable, error_text

log = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_RETRY_S = 0.5


class Backoff:
    """Jittered exponential waits: from ``first_s`` doubling up to ``max_delay_s``."""

    def __init__(self, max_delay_s: float, *, first_s: float = FIRST_RETRY_S,
                 rng: random.Random | None = None) -> None:
        self._first = first_s
        self._max = max(max_delay_s, first_s)
        self._delay = first_s
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The next wait, drawn from [step / 2, step]; the step doubles each time."""
        wait = self._rng.uniform(self._delay / 2, self._delay)
        self._delay = min(self._delay * 2, self._max)
        return wait

    def reset(self) -> None:
        self._delay = self._first


def where(amqp_url: str) -> str:
    """The nodes of ``MTQ_AMQP_URL`` for a log line or an error, never credentials."""
    return ", ".join(describe(url) for url in parse_urls(amqp_url))


async def wait_for_broker(
    connect: Callable[[], Awaitable[T]], *, amqp_url: str, wait_s: float, max_delay_s: float,
    stop: asyncio.Event | None = None, fatal: tuple[type[BaseException], ...] = (),
) -> T | None:
    """What ``connect()`` returns, tried again with backoff for up to ``wait_s`` seconds.

    ``None`` when ``stop`` is set meanwhile (SIGTERM while waiting). Exceptions listed in
    ``fatal`` propagate at once: retrying cannot help them. After ``wait_s`` (at once when it
    is 0) the last failure becomes one :class:`BrokerUnreachable` line.
    """
    deadline = time.monotonic() + wait_s
    backoff = Backoff(max_delay_s)
    attempt = 0
    while True:
        attempt += 1
        try:
            return await _unless_stopped(connect(), stop)
        except fatal:
            raise
        except Exception as exc:  # every other failure is worth another attempt
            reason = " ".join(error_text(exc).split())
        left = deadline - time.monotonic()
        if left <= 0:
            raise BrokerUnreachable(
                f"no connection to RabbitMQ at {where(amqp_url)} within {wait_s:g}s "
                f"(MTQ_BROKER_WAIT_S), {attempt} attempt(s); last: {reason}"
            )
        pause = min(backoff.next(), left)
        log.warning("RabbitMQ at %s unreachable (attempt %d: %s); retrying in %.1fs, "
                    "for %.0fs more", where(amqp_url), attempt, reason, pause, left)
        if stop is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
                return None
        else:
            await asyncio.sleep(pause)


async def _unless_stopped(attempt: Awaitable[T], stop: asyncio.Event | None) -> T | None:
    """``attempt``'s result, or ``None`` (``attempt`` cancelled) once ``stop`` is set."""
    if stop is None:
        return await attempt
    if stop.is_set():
        if asyncio.iscoroutine(attempt):
            attempt.close()
        return None
    task = asyncio.ensure_future(attempt)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # cancelled from outside: take the attempt down with us
        task.cancel()
        raise
    finally:
        stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    return None
