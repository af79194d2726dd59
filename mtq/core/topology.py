"""RabbitMQ names and the idempotent declaration of everything mtq uses.

Every queue is a durable quorum queue. Dead-lettering is at-least-once (which needs
``x-overflow=reject-publish``), so a message moved to a dead-letter or retry queue can't be lost
on the way. Declaring the same arguments again is a no-op; declaring different ones fails
with PRECONDITION_FAILED, so change limits on a live broker with a policy instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

JOBS_EXCHANGE = "mtq.jobs"
DEAD_LETTER_EXCHANGE = "mtq.dlx"
RESULTS_EXCHANGE = "mtq.results"
RESULTS_QUEUE = "mtq.results"
RESULTS_ROUTING_KEY = "mtq.results"
# job.progress of jobs without options.progress: no webhook, so not for mtq.results; a queue
# that wants every event (the HTTP gateway's) binds this key too. Unbound, it goes nowhere.
PROGRESS_ROUTING_KEY = "mtq.progress"
PARKED_QUEUE = "mtq.results.parked"
# Control messages (mtq/core/control.py): every worker binds a queue of its own to the fanout;
# the durable queue keeps them for workers that start later, a day at most, newest 100,000.
CONTROL_EXCHANGE = "mtq.control"
CONTROL_QUEUE = "mtq.control.pending"
CONTROL_QUEUE_TTL_S = 86400
CONTROL_QUEUE_MAX = 100_000
# Header the worker and dispatcher set when they move a message aside themselves.


def broker_death_reason(headers: dict[str, Any]) -> str | None:
    """The reason the broker gave when it dead-lettered a message (``x-death``), if it did."""
    deaths = headers.get("x-death")
    if not (isinstance(deaths, list) and deaths and isinstance(deaths[0], dict)):
        return None
    reason = deaths[0].get("reason")
    if isinstance(reason, bytes):
        reason = reason.decode()
    return str(reason) if reason else None


INTERACTIVE_SUFFIX = "interactive"


def job_queue(route: str) -> str:
    return f"{JOBS_EXCHANGE}.{route}"


def interactive_routing_key(route: str) -> str:
    """Jobs published with this routing key go to the route's interactive lane."""
    return f"{route}.{INTERACTIVE_SUFFIX}"


def interactive_queue(route: str) -> str:
    return job_queue(interactive_routing_key(route))


def dead_letter_queue(route: str) -> str:
    return f"{job_queue(route)}.dead"


def retry_queue(delay_s: int) -> str:
    return f"{RESULTS_QUEUE}.retry.{delay_s}s"


def _quorum_args(group_size: int = 0, **extra: Any) -> dict[str, Any]:
    # x-quorum-initial-group-size only when set: adding it to queues declared without it
    # would make every redeclaration fail (PRECONDITION_FAILED).
    size = {"x-quorum-initial-group-size": group_size} if group_size else {}
    return {"x-queue-type": "quorum", **size, **extra}


def _dead_lettering(routing_key: str, exchange: str = DEAD_LETTER_EXCHANGE) -> dict[str, Any]:
    return {
        "x-dead-letter-exchange": exchange,
        "x-dead-letter-routing-key": routing_key,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


@dataclass(frozen=True)
class JobTopology:
    exchange: AbstractExchange
    queues: dict[str, AbstractQueue]  # bulk lane, by route
    interactive: dict[str, AbstractQueue]  # interactive lane, by route


async def _declare_dead_letter_target(channel: AbstractChannel, queue_name: str,
                                      group_size: int) -> AbstractQueue:
    dlx = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
    queue = await channel.declare_queue(queue_name, durable=True,
                                        arguments=_quorum_args(group_size))
    await queue.bind(dlx, routing_key=queue_name)
    return queue


async def declare_job_topology(
    channel: AbstractChannel, routes: tuple[str, ...], delivery_limit: int, *,
    group_size: int = 0,
) -> JobTopology:
    """Exchange ``mtq.jobs`` and, per route, the bulk lane ``mtq.jobs.<route>``, the
    interactive lane ``mtq.jobs.<route>.interactive`` and their shared dead-letter queue."""
    exchange = await channel.declare_exchange(
        JOBS_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
    queues: dict[str, AbstractQueue] = {}
    interactive: dict[str, AbstractQueue] = {}
    for route in routes:
        dead = dead_letter_queue(route)
        await _declare_dead_letter_target(channel, dead, group_size)
        arguments = _quorum_args(group_size, **{"x-delivery-limit": delivery_limit},
                                 **_dead_lettering(dead))
        queue = await channel.declare_queue(job_queue(route), durable=True, arguments=arguments)
        await queue.bind(exchange, routing_key=route)
        queues[route] = queue
        lane = await channel.declare_queue(
            interactive_queue(route), durable=True, arguments=arguments
        )
        await lane.bind(exchange, routing_key=interactive_routing_key(route))
        interactive[route] = lane
    return JobTopology(exchange=exchange, queues=queues, interactive=interactive)


async def declare_results_topology(
    channel: AbstractChannel, retry_schedule_s: tuple[int, ...], delivery_limit: int, *,
    group_size: int = 0,
) -> AbstractQueue:
    """``mtq.results``, its durable retry ladder (TTL queues that dead-letter back) and parking.

    A retry queue holds an event for its TTL, then dead-letters it to the results exchange, so
    waiting survives dispatcher restarts. Results that keep crashing the dispatcher end up
    parked by the delivery limit rather than looping forever.
    """
    exchange = await channel.declare_exchange(
        RESULTS_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
    await _declare_dead_letter_target(channel, PARKED_QUEUE, group_size)
    results = await channel.declare_queue(
        RESULTS_QUEUE,
        durable=True,
        arguments=_quorum_args(
            group_size, **{"x-delivery-limit": delivery_limit}, **_dead_lettering(PARKED_QUEUE)
        ),
    )
    await results.bind(exchange, routing_key=RESULTS_ROUTING_KEY)
    for delay in sorted(set(retry_schedule_s)):
        await channel.declare_queue(
            retry_queue(delay),
            durable=True,
            arguments=_quorum_args(
                group_size, **{"x-message-ttl": delay * 1000},
                **_dead_lettering(RESULTS_ROUTING_KEY, exchange=RESULTS_EXCHANGE),
            ),
        )
    return results


async def declare_control_topology(channel: AbstractChannel, *, group_size: int = 0
                                   ) -> tuple[AbstractExchange, AbstractQueue]:
    """``mtq.control`` (fanout) and ``mtq.control.pending``, the durable queue that keeps
    control messages for workers that are not running yet (each taken by one worker)."""
    exchange = await channel.declare_exchange(
        CONTROL_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
    )
    queue = await channel.declare_queue(CONTROL_QUEUE, durable=True, arguments=_quorum_args(
        group_size, **{"x-message-ttl": CONTROL_QUEUE_TTL_S * 1000,
                       "x-max-length": CONTROL_QUEUE_MAX, "x-overflow": "drop-head"}))
    await queue.bind(exchange)
    return exchange, queue
