"""Webhook delivery at the receiver's pace: throughput, latency and connections per webhook.

``python -m bench delivery`` (or ``python -m bench.delivery``). Each row publishes a burst of
result events for one loopback receiver that answers every webhook after a fixed delay (an
ordinary endpoint that writes to a database), with HTTP/1.1 keep-alive as real receivers have.
The real dispatcher (``webhooks.dispatcher.run_dispatcher``, its own metrics) runs in this
process over a private vhost of the local RabbitMQ; events are published with confirms while
it runs. Per row:

- webhooks/s: events ÷ (last webhook received − first event published), against the ideal
  ceiling ÷ latency (the window at its ceiling, every request taking the receiver's delay);
- p50 / p95 publish-to-webhook latency: from each event's publish to the receiver getting it
  (a burst queues behind itself, so this grows with the burst);
- connections per webhook: TCP connections the receiver accepted ÷ webhooks (0 is the goal
  after warm-up: the window's connections are kept alive and reused);
- deferred and retried: events sent to the retry ladder (0 for a receiver answering 2xx).

A row with hanging hosts runs them beside that receiver: another tenant's hosts (127.0.0.3...)
that never answer within the delivery timeout, their events published first; the row's numbers
are still the honest receiver's (its events belong to a tenant of their own). Its share of the
deliveries (``MTQ_WEBHOOK_PER_TENANT``) is what keeps it going; a row with the share at
``MTQ_WEBHOOK_CONCURRENCY`` shows the same without that isolation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # `python bench/delivery.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aio_pika

from mtq.core.contract import DecodeOptions, Job
from mtq.core.events import CompletedEvent, JobStats, ModelInfo, encode_result
from mtq.core.settings import Settings
from mtq.core.topology import RESULTS_EXCHANGE, RESULTS_ROUTING_KEY, declare_results_topology
from tests.harness import LoopbackReceiver, Reply, amqp_url_for, create_vhost, delete_vhost
from tests.harness import new_secret as _new_secret
from webhooks.dispatcher import run_dispatcher
from webhooks.metrics import DispatcherMetrics

log = logging.getLogger("bench.delivery")
# The default ceiling, read from the field: no Settings is built at import time.
PER_HOST: int = Settings.model_fields["webhook_per_host"].default
PUBLISH_BATCH = 100
EVENTS_PER_HANGING_HOST = 4


@dataclass(frozen=True)
class Scenario:
    events: int
    delay_ms: int
    ceiling: int
    hanging_hosts: int = 0  # another tenant's hosts that never answer (see above)
    per_tenant: int = 0  # MTQ_WEBHOOK_PER_TENANT


@dataclass(frozen=True)
class Row:
    scenario: Scenario
    webhooks_per_s: float
    p50_s: float
    p95_s: float
    connections: int
    deferred: int
    retried: int

    @property
    def ideal_per_s(self) -> float:
        return self.scenario.ceiling / (self.scenario.delay_ms / 1000)

    def cells(self) -> list[str]:
        s = self.scenario
        hanging = (f"{s.hanging_hosts}" + (f", MTQ_WEBHOOK_PER_TENANT={s.per_tenant}"
                                           if s.per_tenant else "")) if s.hanging_hosts else "0"
        return [f"{s.events}", f"{s.delay_ms} ms", f"{s.ceiling}", hanging,
                f"{self.webhooks_per_s:.1f}", f"{self.ideal_per_s:.1f}",
                f"{self.p50_s:.2f} s", f"{self.p95_s:.2f} s",
                f"{self.connections / s.events:.3f} ({self.connections})",
                f"{self.deferred}", f"{self.retried}"]


COLUMNS = ["events", "receiver latency", "MTQ_WEBHOOK_PER_HOST",
           "hanging hosts (another tenant)", "webhooks/s",
           "ceiling ÷ latency", "p50 publish→webhook", "p95 publish→webhook",
           "connections per webhook (total)", "deferred", "retried"]


def _event_message(job_id: str, callback_url: str, tenant: str | None = None
                   ) -> aio_pika.Message:
    job = Job(job_id=job_id, source_lang="en", target_lang="de", segments=("Hello world.",),
              callback_url=callback_url, options=DecodeOptions(beam_size=4, max_new_tokens=64),
              tenant=tenant)
    event = CompletedEvent(job, ("Hallo Welt.",), ModelInfo("bench", "0"), JobStats(1, 0, 1),
                           (0.9,))
    outgoing = encode_result(event, callback_url)
    return aio_pika.Message(body=outgoing.body, headers=dict(outgoing.headers),
                            message_id=outgoing.webhook_id, content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT)


@contextlib.contextmanager
def _hanging(count: int, timeout_s: float) -> Iterator[list[LoopbackReceiver]]:
    """``count`` receivers on 127.0.0.3, 127.0.0.4...: hosts that answer after the timeout."""
    hang = Reply(status=200, delay_s=2 * timeout_s)
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(LoopbackReceiver(f"127.0.0.{3 + n}", lambda _r, _n: hang,
                                                    keep_alive=True))
               for n in range(count)]


async def _publish(exchange: aio_pika.abc.AbstractExchange,
                   events: list[tuple[str, str, str | None]]) -> None:
    """``(job_id, callback_url, tenant)`` events, confirms awaited per batch."""
    for start in range(0, len(events), PUBLISH_BATCH):
        await asyncio.gather(*(exchange.publish(_event_message(*event),
                                                routing_key=RESULTS_ROUTING_KEY)
                               for event in events[start:start + PUBLISH_BATCH]))


async def _run(scenario: Scenario, amqp_url: str) -> Row:
    secret = _new_secret()
    reply = Reply(status=200, delay_s=scenario.delay_ms / 1000)
    timeout_s: float = Settings.model_fields["webhook_timeout_s"].default
    with LoopbackReceiver(responder=lambda _r, _n: reply, keep_alive=True) as receiver, \
            _hanging(scenario.hanging_hosts, timeout_s) as hanging:
        settings = Settings(
            amqp_url=amqp_url, webhook_secret=(secret,), webhook_allow_networks=("127.0.0.0/8",),
            webhook_allow_ports=(80, 443, receiver.port, *(h.port for h in hanging)),
            webhook_per_host=scenario.ceiling, webhook_per_tenant=scenario.per_tenant,
            drain_timeout_s=1.0, metrics_port=0,
        )
        metrics = DispatcherMetrics()
        stop = asyncio.Event()
        dispatcher = asyncio.create_task(
            run_dispatcher(settings, stop=stop, handle_signals=False, metrics=metrics))
        published: dict[str, float] = {}
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await declare_results_topology(channel, settings.webhook_retry_schedule_s,
                                           settings.delivery_limit)
            exchange = await channel.get_exchange(RESULTS_EXCHANGE)
            await _publish(exchange, [(f"hang-{n}-{k}", host.url, "noisy")
                                      for n, host in enumerate(hanging)
                                      for k in range(EVENTS_PER_HANGING_HOST)])
            for start in range(0, scenario.events, PUBLISH_BATCH):
                batch = [f"bench-{n}" for n in range(start, min(start + PUBLISH_BATCH,
                                                                 scenario.events))]
                published.update(dict.fromkeys(batch, time.monotonic()))
                # Publishing outpaces any receiver here.
                await _publish(exchange, [(job, receiver.url, "honest" if hanging else None)
                                          for job in batch])
            deadline = time.monotonic() + 60 + 2 * scenario.events * scenario.delay_ms / 1000
            while len(receiver.first_by_job()) < scenario.events:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{len(receiver.first_by_job())} of {scenario.events} "
                                       "webhooks arrived in time")
                await asyncio.sleep(0.05)
        stop.set()
        await dispatcher
        first = receiver.first_by_job()
        latencies = sorted(first[job].arrived - at for job, at in published.items())
        span = max(r.arrived for r in first.values()) - min(published.values())
        return Row(
            scenario=scenario,
            webhooks_per_s=scenario.events / span,
            p50_s=statistics.median(latencies),
            p95_s=latencies[int(0.95 * (len(latencies) - 1))],
            connections=receiver.connections,
            deferred=int(_sample(metrics, "mtq_webhook_deferred_total")),
            retried=int(sum(_sample(metrics, "mtq_webhook_retries_scheduled_total",
                                    delay_s=str(step))
                            for step in settings.webhook_retry_schedule_s)),
        )


def _sample(metrics: DispatcherMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def run_rows(scenarios: Sequence[Scenario]) -> list[Row]:
    rows = []
    for scenario in scenarios:
        vhost = f"mtq-bench-delivery-{uuid.uuid4().hex[:8]}"
        create_vhost(vhost)
        try:
            rows.append(asyncio.run(_run(scenario, amqp_url_for(vhost))))
        finally:
            delete_vhost(vhost)
        log.info("%s", rows[-1])
    return rows


def markdown(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench delivery", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short row (smoke test)")
    parser.add_argument("--events", type=int, default=300, help="events per row (300)")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    return parser


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    if args.quick:
        return [Scenario(events=40, delay_ms=50, ceiling=PER_HOST)]
    return [
        Scenario(args.events, 200, PER_HOST),  # the defaults
        Scenario(args.events, 200, 4),  # the former fixed limit, now a ceiling
        Scenario(args.events, 200, 16),
        Scenario(args.events * 3, 20, PER_HOST),  # a fast receiver
        # Beside another tenant's 40 hosts that hang, with and without per-tenant shares.
        Scenario(args.events // 3, 20, PER_HOST),
        Scenario(args.events // 3, 20, PER_HOST, hanging_hosts=40),
        Scenario(args.events // 3, 20, PER_HOST, hanging_hosts=40,
                 per_tenant=Settings.model_fields["webhook_concurrency"].default),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bench import logs

    logs.configure()
    table = markdown(run_rows(scenarios(args)))
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
