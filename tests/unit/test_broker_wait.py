"""The backoff and the wait for the broker at start (mtq/client/broker_wait.py), in-process."""

from __future__ import annotations

import asyncio
import random

import pytest

from mtq.client.broker_wait import Backoff, wait_for_broker
from mtq.core.errors import BrokerUnreachable

URL = "amqp://guest:hunter2@127.0.0.1:1/%2F"


def test_backoff_doubles_to_its_ceiling_with_jitter() -> None:
    backoff = Backoff(4.0, rng=random.Random(7))
    steps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    waits = [backoff.next() for _ in steps]
    assert all(step / 2 <= wait <= step for step, wait in zip(steps, waits, strict=True))
    backoff.reset()
    assert 0.25 <= backoff.next() <= 0.5


async def test_the_wait_retries_until_the_broker_answers() -> None:
    calls = 0

    async def connect() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionRefusedError(111, "Connection refused")
        return "connected"

    got = await wait_for_broker(connect, amqp_url=URL, wait_s=30, max_delay_s=0.01)
    assert (got, calls) == ("connected", 3)


async def test_after_the_wait_one_line_without_credentials() -> None:
    async def connect() -> str:
        raise ConnectionRefusedError(111, "Connection\nrefused")

    with pytest.raises(BrokerUnreachable) as caught:
        await wait_for_broker(connect, amqp_url=URL, wait_s=0, max_delay_s=0.01)
    text = str(caught.value)
    assert "\n" not in text and "hunter2" not in text
    assert text.startswith("no connection to RabbitMQ at amqp://127.0.0.1:1/%2F within 0s")


async def test_a_stop_ends_the_wait_and_a_fatal_error_is_raised_at_once() -> None:
    stop = asyncio.Event()

    async def hangs() -> str:
        stop.set()  # SIGTERM arrives while a connect is under way
        await asyncio.sleep(3600)
        return "never"

    assert await wait_for_broker(hangs, amqp_url=URL, wait_s=60, max_delay_s=1,
                                 stop=stop) is None

    async def refused() -> str:
        raise PermissionError("refused for good")

    with pytest.raises(PermissionError):
        await wait_for_broker(refused, amqp_url=URL, wait_s=60, max_delay_s=1,
                              fatal=(PermissionError,))
