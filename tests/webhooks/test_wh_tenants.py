"""Isolation per tenant: one tenant's many hanging hosts cannot take every delivery slot.

The limit on a failing host is per host name; a tenant with many hosts that hang once held
all of ``MTQ_WEBHOOK_CONCURRENCY``, and an honest tenant's events waited for their timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from mtq.core.events import encode_json, result_headers
from tests.webhooks.test_wh_pace import Clock
from tests.webhooks.whtest import (
    Broker,
    Endpoint,
    Reply,
    broker,
    dispatching,
    endpoint,
    eventually,
    metric,
    settings_for,
)
from webhooks.events import tenant_of
from webhooks.metrics import DispatcherMetrics
from webhooks.pacing.pace import Feedback, Signal
from webhooks.pacing.tenantgates import UNANSWERED_S, TenantBusy, TenantGates

HANGING_HOSTS = 12
EVENTS_PER_HOST = 3
SHARE = 4
TIMEOUT_S = 30.0  # how long a hanging host holds a slot: far beyond the assertions' waits


def tenant_body(job_id: str, tenant: str) -> bytes:
    return encode_json({"type": "job.completed", "job_id": job_id, "source_lang": "en",
                        "target_lang": "de", "translations": ["Hallo."],
                        "model": {"name": "tiny", "revision": "0"},
                        "metadata": {"tenant": "not-this-one"},
                        "stats": {"segments": 1, "queue_ms": 0, "compute_ms": 1},
                        "tenant": tenant})


async def publish_for(b: Broker, job_id: str, url: str, tenant: str) -> None:
    headers: dict[str, Any] = dict(result_headers(job_id, "job.completed", url))
    await b.publish_raw(headers, tenant_body(job_id, tenant))


@contextlib.contextmanager
def hanging_hosts(count: int) -> Iterator[list[Endpoint]]:
    """``count`` receivers on 127.0.0.3, 127.0.0.4...: separate hosts that never answer."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(endpoint(f"127.0.0.{3 + n}",
                                            lambda _s, _n: Reply(delay_s=2 * TIMEOUT_S)))
               for n in range(count)]


async def test_an_honest_tenant_is_delivered_while_another_tenants_hosts_hang(
    amqp_url: str,
) -> None:
    with hanging_hosts(HANGING_HOSTS) as hanging, endpoint("127.0.0.2") as honest:
        ports = {server.port for server in hanging} | {honest.port}
        # Tenant A's events alone would fill both the concurrency (8) and the prefetch (16).
        settings = settings_for(amqp_url, *ports, webhook_concurrency=2 * SHARE,
                                webhook_per_tenant=SHARE, dispatcher_prefetch=16,
                                webhook_timeout_s=TIMEOUT_S, drain_timeout_s=1.0)
        m = DispatcherMetrics()
        async with broker(amqp_url) as b, dispatching(settings, metrics=m):
            for k in range(EVENTS_PER_HOST):  # tenant A first, its hosts in turn
                for n, server in enumerate(hanging):
                    await publish_for(b, f"a-{n}-{k}", server.url, "tenant-a")
            await eventually(lambda: sum(len(s.seen()) for s in hanging) >= SHARE, 20,
                             "tenant A's first requests")
            for n in range(8):
                await publish_for(b, f"b-{n}", honest.url, "tenant-b")
            await eventually(lambda: len(honest.delivered()) == 8, 20,
                             "tenant B's events, while tenant A's hang")
            # No request of tenant A has timed out yet (30 s): B did not wait for them.
            assert metric(m, "mtq_webhook_attempts_total", outcome="timeout",
                          status_class="none") == 0
            # Tenant A had its share of the slots at once, never more, and what it could
            # not hold went back to the ladder (no attempt spent) to leave room for B.
            assert sum(len(s.seen()) for s in hanging) == SHARE
            assert metric(m, "mtq_webhook_deferred_total") > 0
            assert metric(m, "mtq_webhook_retries_scheduled_total", delay_s="1") == 0
        assert sorted(s.job_id for s in honest.delivered()) == [f"b-{n}" for n in range(8)]


def test_the_tenant_is_read_from_the_event_body() -> None:
    assert tenant_of(tenant_body("j", "acme")) == "acme"
    assert tenant_of(encode_json({"type": "job.failed", "job_id": "j",
                                  "metadata": {"tenant": "spoof"}})) == ""
    assert tenant_of(b'{"tenant": 5}') == ""
    assert tenant_of(b'{"tenant": "has space"}') == ""
    assert tenant_of(b'["tenant"]') == ""
    assert tenant_of(b'{"tenant": "x"') == ""  # not JSON
    assert tenant_of(b'{"job_id": "j"}') == ""


async def _occupy(gates: TenantGates, tenant: str, release: asyncio.Event,
                  entered: list[str]) -> None:
    async with gates.hold(tenant):
        entered.append(tenant)
        await release.wait()


async def test_a_tenant_waits_for_its_share_and_others_do_not_wait_behind_it() -> None:
    gates = TenantGates(2, max_wait_s=5.0, failing_backlog=1)
    async with gates.hold("a"):
        gates.record("a", Feedback(Signal.OK, 0.05))  # its receivers answer
    release = asyncio.Event()
    entered: list[str] = []
    tasks = [asyncio.create_task(_occupy(gates, "a", release, entered)) for _ in range(4)]
    tasks.append(asyncio.create_task(_occupy(gates, "b", release, entered)))
    tasks.append(asyncio.create_task(_occupy(gates, "", release, entered)))  # no tenant
    await eventually(lambda: sorted(entered) == ["", "a", "a", "b"], 5)
    assert gates.held("a") == 4  # two in flight, two waiting their turn (past the backlog)
    release.set()
    await asyncio.gather(*tasks)  # a tenant that answers: its events wait, none refused
    assert sorted(entered) == ["", "a", "a", "a", "a", "b"] and gates.held("a") == 0


async def test_a_failing_tenant_defers_beyond_its_bounds() -> None:
    clock = Clock()
    gates = TenantGates(1, max_wait_s=1.0, failing_backlog=2, clock=clock)
    release = asyncio.Event()
    entered: list[str] = []
    first = asyncio.create_task(_occupy(gates, "a", release, entered))
    await eventually(lambda: entered == ["a"], 5)
    gates.record("a", Feedback(Signal.FAILED, 1.0, answered=False))  # a timeout
    waiters = [asyncio.create_task(_occupy(gates, "a", release, entered)) for _ in range(4)]
    await eventually(lambda: sum(w.done() for w in waiters) == 2, 5)
    assert all(isinstance(w.exception(), TenantBusy) for w in waiters if w.done())
    clock.now += 1.5  # nothing answered for longer than max_wait_s, a request in flight
    await eventually(lambda: all(w.done() for w in waiters), 5)
    assert all(isinstance(w.exception(), TenantBusy) for w in waiters)
    assert "tenant" in str(waiters[-1].exception())
    release.set()
    await first
    assert gates.held("a") == 0


async def test_a_tenant_whose_requests_go_unanswered_is_bounded() -> None:
    clock = Clock()
    gates = TenantGates(1, max_wait_s=5.0, failing_backlog=2, clock=clock)
    release = asyncio.Event()
    entered: list[str] = []
    first = asyncio.create_task(_occupy(gates, "a", release, entered))
    await eventually(lambda: entered == ["a"], 5)
    waiters = [asyncio.create_task(_occupy(gates, "a", release, entered)) for _ in range(4)]
    calls = clock.calls
    await eventually(lambda: clock.calls > calls + 8, 5, "the waiters to look at the clock")
    assert not any(w.done() for w in waiters)  # a request just sent: no sign of trouble yet
    clock.now += UNANSWERED_S + 0.5  # ... and no answer since
    await eventually(lambda: sum(w.done() for w in waiters) == 2, 5)
    assert all(isinstance(w.exception(), TenantBusy) for w in waiters if w.done())
    assert "not answering" in str(next(w for w in waiters if w.done()).exception())
    release.set()
    await asyncio.gather(first, *(w for w in waiters if not w.done()))
    assert entered == ["a"] * 3 and gates.held("a") == 0
