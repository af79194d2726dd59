"""Delivery at the receiver's pace, through the real broker and real loopback receivers."""

from __future__ import annotations

from mtq.core.settings import Settings
from mtq.core.topology import RESULTS_QUEUE
from tests.webhooks.whtest import (
    Reply,
    Seen,
    broker,
    dispatching,
    endpoint,
    eventually,
    metric,
    settings_for,
)
from webhooks.metrics import DispatcherMetrics


async def test_a_slow_healthy_receiver_is_paced_never_deferred(amqp_url: str) -> None:
    # 200 ms per answer, 300 events at once, the default window, prefetch and concurrency.
    defaults = Settings()
    with endpoint(behaviour=lambda _s, _n: Reply(delay_s=0.2)) as server:
        settings = settings_for(
            amqp_url, server.port, dispatcher_prefetch=defaults.dispatcher_prefetch,
            webhook_per_host=defaults.webhook_per_host, webhook_timeout_s=5.0,
        )
        m = DispatcherMetrics()
        async with broker(amqp_url) as b, dispatching(settings, metrics=m):
            for n in range(300):
                await b.publish(f"paced-{n}", server.url)
            await eventually(lambda: len(server.delivered()) >= 300, 120, "300 deliveries")

            async def drained() -> bool:
                return await b.count(RESULTS_QUEUE) == 0
            await eventually(drained, 10, "an empty results queue")
        assert sorted(s.job_id for s in server.delivered()) == sorted(
            f"paced-{n}" for n in range(300))
        assert metric(m, "mtq_webhook_deferred_total") == 0
        assert metric(m, "mtq_webhook_retries_scheduled_total", delay_s="1") == 0
        # The window grew to the ceiling, on connections kept alive.
        assert server.peak == defaults.webhook_per_host
        assert server.connections <= 2 * defaults.webhook_per_host
        assert metric(m, "mtq_webhook_connections_opened_total") == server.connections


async def test_a_receiver_that_stalls_shrinks_alone_and_fails_onto_the_ladder(
    amqp_url: str,
) -> None:
    healthy_answers = 30

    def slows_then_stalls(_seen: Seen, n: int) -> Reply:
        if n <= healthy_answers:
            return Reply(delay_s=0.05 if n <= 20 else 0.3)  # slows down, then...
        return Reply(delay_s=30)  # ... stops answering within the timeout

    with endpoint("127.0.0.2", slows_then_stalls) as stalling, endpoint(
        behaviour=lambda _s, _n: Reply(delay_s=0.05)
    ) as fast:
        settings = settings_for(amqp_url, stalling.port, fast.port, webhook_per_host=4,
                                dispatcher_prefetch=64, webhook_timeout_s=1.0,
                                webhook_connect_timeout_s=0.5, drain_timeout_s=2.0)
        m = DispatcherMetrics()
        stalled_host = {"host": "127.0.0.2"}
        async with broker(amqp_url) as b, dispatching(settings, metrics=m):
            for n in range(60):
                await b.publish(f"stall-{n}", stalling.url)
            await eventually(lambda: len(stalling.seen()) > healthy_answers, 60,
                             "the receiver to stall")
            window_before = metric(m, "mtq_webhook_host_concurrency_limit", **stalled_host)
            ladder_before = (metric(m, "mtq_webhook_retries_scheduled_total", delay_s="1")
                             + metric(m, "mtq_webhook_deferred_total"))
            # Nothing reached the ladder while the receiver was answering.
            assert ladder_before == 0
            for n in range(40):
                await b.publish(f"fast-{n}", fast.url)
            # The other host keeps its pace while the stalled one times out.
            await eventually(lambda: len(fast.delivered()) == 40, 30, "the fast host's events")
            await eventually(
                lambda: metric(m, "mtq_webhook_host_concurrency_limit", **stalled_host) == 1,
                30, "the stalled host's window to shrink")
            await eventually(
                lambda: metric(m, "mtq_webhook_retries_scheduled_total", delay_s="1") > 0,
                30, "a failed attempt on the ladder")
        assert window_before >= 2
        delivered = [s.job_id for s in stalling.delivered()]
        # Every event the receiver answered was delivered once and never retried.
        assert sorted(delivered) == sorted(f"stall-{n}" for n in range(healthy_answers))
        assert sorted(s.job_id for s in fast.delivered()) == sorted(
            f"fast-{n}" for n in range(40))
        assert metric(m, "mtq_webhook_host_concurrency_limit", host="127.0.0.1") >= 1
