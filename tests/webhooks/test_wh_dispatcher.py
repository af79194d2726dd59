"""The dispatcher end to end: real RabbitMQ (private vhost), real loopback endpoints."""

from __future__ import annotations

import asyncio

import pytest
from standardwebhooks import Webhook

from mtq.core.errors import ConfigError
from mtq.core.events import webhook_id
from mtq.core.topology import PARKED_QUEUE, RESULTS_QUEUE
from tests.webhooks.whtest import (
    SECRET,
    Broker,
    Reply,
    Seen,
    broker,
    dispatching,
    endpoint,
    eventually,
    metric,
    run_cli,
    settings_for,
)
from webhooks.dispatcher import run_dispatcher
from webhooks.metrics import DispatcherMetrics
from webhooks.parking import Selector, list_parked

pytestmark = pytest.mark.integration


async def wait_count(b: Broker, queue: str, expected: int, timeout: float = 20.0) -> None:
    async def check() -> bool:
        return await b.count(queue) == expected
    await eventually(check, timeout, f"{expected} message(s) in {queue}")


async def test_burst_delivers_everything_and_exits(amqp_url: str) -> None:
    with endpoint() as server:
        settings = settings_for(amqp_url, server.port)
        m = DispatcherMetrics()
        delivered_before = metric(m, "mtq_webhook_delivered_total")
        async with broker(amqp_url) as b:
            for n in range(4):
                await b.publish(f"burst-{n}", server.url)
            await b.publish("burst-f", server.url, event_type="job.failed")
            assert await run_dispatcher(settings, burst=True, handle_signals=False, metrics=m) == 0
            assert await b.count(RESULTS_QUEUE) == 0
        seen = server.delivered()
        assert sorted(s.job_id for s in seen) == sorted([*(f"burst-{n}" for n in range(4)),
                                                         "burst-f"])
        for request in seen:
            body = Webhook(SECRET).verify(request.body, request.headers)
            assert request.headers["webhook-id"] == webhook_id(body["job_id"], body["type"])
        assert metric(m, "mtq_webhook_delivered_total") - delivered_before == 5


async def test_failing_endpoint_is_retried_on_the_ladder_until_it_succeeds(
    amqp_url: str,
) -> None:
    def fail_twice(_seen: Seen, n: int) -> Reply:
        return Reply(status=500) if n <= 2 else Reply(status=200)

    with endpoint(behaviour=fail_twice) as server:
        m = DispatcherMetrics()
        retries_before = metric(m, "mtq_webhook_retries_scheduled_total", delay_s="1")
        async with broker(amqp_url) as b, dispatching(settings_for(amqp_url, server.port),
                                                      metrics=m):
            await b.publish("ladder-1", server.url)
            await eventually(lambda: len(server.delivered()) == 1, what="delivery")
            await wait_count(b, RESULTS_QUEUE, 0)
        seen = server.seen()
        assert len(seen) == 3 and len(server.delivered()) == 1
        assert {s.headers["webhook-id"] for s in seen} == {webhook_id("ladder-1",
                                                                      "job.completed")}
        stamps = [int(s.headers["webhook-timestamp"]) for s in seen]
        assert stamps[0] < stamps[1] < stamps[2]  # a fresh timestamp per attempt
        assert seen[2].at - seen[1].at >= 1.9  # second ladder step is 2 s
        Webhook(SECRET).verify(seen[2].body, seen[2].headers)
        retries = metric(m, "mtq_webhook_retries_scheduled_total", delay_s="1")
        assert retries - retries_before == 1


async def test_dead_endpoint_is_parked_then_redriven(amqp_url: str) -> None:
    with endpoint() as server:
        server.stop()  # connection refused for the whole ladder
        settings = settings_for(amqp_url, server.port)
        m = DispatcherMetrics()
        parked_before = metric(m, "mtq_webhook_parked_total", reason="retries_exhausted")
        async with broker(amqp_url) as b, dispatching(settings, metrics=m):
            await b.publish("dead-1", server.url)
            await b.publish("other-1", "http://127.0.0.1:9/never")  # port 9: parked, stays
            await wait_count(b, PARKED_QUEUE, 2)
            [parked] = await asyncio.to_thread(list_parked, amqp_url,
                                               selector=Selector(job_id="dead-1"))
            assert parked.reason == "retries_exhausted"
            assert parked.attempt == 3 and parked.last_status is None
            assert "refused" in parked.last_error.lower()
            assert metric(m, "mtq_webhook_parked_total", reason="retries_exhausted") \
                - parked_before == 1

            server.start()  # back on the same port
            code = await asyncio.to_thread(
                run_cli, ["webhooks", "redrive", "--job-id", "dead-1"], settings
            )
            assert code == 0
            await eventually(lambda: len(server.delivered()) == 1, what="redriven delivery")
            await wait_count(b, PARKED_QUEUE, 1)
        [request] = server.delivered()
        assert request.job_id == "dead-1"
        Webhook(SECRET).verify(request.body, request.headers)


async def test_gone_parks_at_once(amqp_url: str) -> None:
    with endpoint(behaviour=lambda _s, _n: Reply(status=410)) as server:
        async with broker(amqp_url) as b, dispatching(settings_for(amqp_url, server.port)):
            await b.publish("gone-1", server.url)
            await wait_count(b, PARKED_QUEUE, 1)
            [parked] = await asyncio.to_thread(list_parked, amqp_url)
        assert parked.reason == "gone" and parked.last_status == 410 and parked.attempt == 1
        assert len(server.seen()) == 1


async def test_retry_after_picks_a_longer_ladder_step(amqp_url: str) -> None:
    def throttle_once(_seen: Seen, n: int) -> Reply:
        return Reply(status=429, headers={"Retry-After": "2"}) if n == 1 else Reply()

    with endpoint(behaviour=throttle_once) as server:
        m = DispatcherMetrics()
        before = metric(m, "mtq_webhook_retries_scheduled_total", delay_s="2")
        async with broker(amqp_url) as b, dispatching(settings_for(amqp_url, server.port),
                                                      metrics=m):
            await b.publish("throttled-1", server.url)
            await eventually(lambda: len(server.delivered()) == 1, what="delivery")
        first, second = server.seen()
        assert second.at - first.at >= 1.9  # the 2 s step, not the first (1 s) one
        assert metric(m, "mtq_webhook_retries_scheduled_total", delay_s="2") - before == 1


async def test_redirect_is_a_failure_and_parks_with_its_status(amqp_url: str) -> None:
    with endpoint("127.0.0.2") as internal:
        moved = Reply(status=302, headers={"Location": internal.url})
        with endpoint(behaviour=lambda _s, _n: moved) as server:
            settings = settings_for(amqp_url, server.port, internal.port,
                                    webhook_retry_schedule_s=(1,))
            async with broker(amqp_url, (1,)) as b, dispatching(settings):
                await b.publish("redirect-1", server.url)
                await wait_count(b, PARKED_QUEUE, 1)
                [parked] = await asyncio.to_thread(list_parked, amqp_url)
        assert parked.reason == "retries_exhausted" and parked.last_status == 302
        assert len(server.seen()) == 2 and internal.seen() == []


async def test_blocked_destination_is_parked_and_never_contacted(amqp_url: str) -> None:
    with endpoint() as server:
        # No loopback exemption here: the endpoint is an "internal" service.
        settings = settings_for(amqp_url, server.port, webhook_allow_networks=())
        m = DispatcherMetrics()
        blocked_before = metric(m, "mtq_webhook_attempts_total", outcome="blocked",
                                status_class="none")
        async with broker(amqp_url) as b, dispatching(settings, metrics=m):
            await b.publish("ssrf-1", f"http://2130706433:{server.port}/")
            await b.publish("ssrf-2", "http://169.254.169.254/latest/meta-data/")
            await wait_count(b, PARKED_QUEUE, 2)
            parked = await asyncio.to_thread(list_parked, amqp_url)
        assert {p.reason for p in parked} == {"blocked_destination"}
        assert {p.attempt for p in parked} == {1}
        assert server.seen() == []
        assert metric(m, "mtq_webhook_attempts_total", outcome="blocked",
                      status_class="none") - blocked_before == 2


async def test_invalid_message_is_parked(amqp_url: str) -> None:
    async with broker(amqp_url) as b, dispatching(settings_for(amqp_url)):
        await b.publish("bad-1", "http://127.0.0.1/", headers={"x-mtq-job-id": "bad-1"})
        await wait_count(b, PARKED_QUEUE, 1)
        [parked] = await asyncio.to_thread(list_parked, amqp_url)
    assert parked.reason == "invalid_message" and "event-type" in parked.last_error


async def test_slow_host_does_not_hold_up_others(amqp_url: str) -> None:
    # Two hosts (the per-host limit keys on the host name, not the port).
    with endpoint("127.0.0.2", lambda _s, _n: Reply(delay_s=30)) as slow, endpoint() as fast:
        settings = settings_for(amqp_url, slow.port, fast.port, webhook_per_host=1,
                                dispatcher_prefetch=16, webhook_timeout_s=3.0,
                                webhook_connect_timeout_s=1.0, drain_timeout_s=5.0)
        m = DispatcherMetrics()
        deferred_before = metric(m, "mtq_webhook_deferred_total")
        async with broker(amqp_url) as b:
            for n in range(8):
                await b.publish(f"slow-{n}", slow.url)
            for n in range(3):
                await b.publish(f"fast-{n}", fast.url)
            async with dispatching(settings, metrics=m):
                await eventually(lambda: len(fast.delivered()) == 3, 10, "fast deliveries")
                # All fast events got through while the slow host's first request still hangs.
                assert slow.delivered() == []
                assert len(slow.seen()) == 1
                await eventually(lambda: metric(m, "mtq_webhook_deferred_total")
                                 > deferred_before, 5, "a deferral")


async def test_stop_drains_in_flight_delivery(amqp_url: str) -> None:
    with endpoint(behaviour=lambda _s, _n: Reply(delay_s=1.0)) as server:
        async with broker(amqp_url) as b:
            async with dispatching(settings_for(amqp_url, server.port)):
                await b.publish("drain-1", server.url)
                await eventually(lambda: len(server.seen()) == 1, what="request in flight")
            # Leaving the block stopped the dispatcher: the delivery finished and was acked.
            assert len(server.delivered()) == 1
            assert await b.count(RESULTS_QUEUE) == 0


async def test_mismatched_topology_is_a_config_error(amqp_url: str) -> None:
    async with broker(amqp_url, delivery_limit=10):
        pass
    with pytest.raises(ConfigError, match="MTQ_DELIVERY_LIMIT"):
        await run_dispatcher(settings_for(amqp_url, delivery_limit=5), burst=True,
                             handle_signals=False)
