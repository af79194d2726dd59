"""Control messages (mtq/core/control.py) for one session, on a channel of their own.

Two queues are bound to the fanout ``mtq.control``: one this worker declares for itself
(server-named, exclusive, auto-delete: it goes with the session), so every running worker
gets every cancel and applies it to the jobs it holds; and the durable
``mtq.control.pending``, shared by all workers, each message taken by one of them, which keeps
cancels while no worker runs (scaled to zero) and puts them in the shared cancel store. A new
session takes what waits in ``mtq.control.pending`` *before* the job consumers start, so a
job whose cancel came first is cancelled at intake. Malformed messages are the handler's to
log; nothing here raises for one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from mtq.core.topology import declare_control_topology

log = logging.getLogger(__name__)

ControlHandler = Callable[[bytes, bool], Awaitable[None]]  # (body, from the pending queue)
PENDING_PREFETCH = 32
DRAIN_AT_START = 10_000  # pending messages taken before the job consumers start, at most


async def open_control(
    connection: AbstractConnection, handler: ControlHandler, mark_lost: Callable[..., None],
    *, group_size: int = 0,
) -> AbstractChannel:
    """Declare the control topology, take the pending cancels, then consume both queues."""
    channel: AbstractChannel = await connection.channel()
    channel.close_callbacks.add(mark_lost)
    await channel.set_qos(prefetch_count=PENDING_PREFETCH)
    exchange, pending = await declare_control_topology(channel, group_size=group_size)
    own = await channel.declare_queue("", exclusive=True, auto_delete=True)
    await own.bind(exchange)

    async def on_pending(message: AbstractIncomingMessage) -> None:
        await _handle(handler, message.body, pending=True)
        await message.ack()

    async def on_own(message: AbstractIncomingMessage) -> None:
        await _handle(handler, message.body, pending=False)

    taken = 0
    while taken < DRAIN_AT_START:
        message = await pending.get(no_ack=False, fail=False)
        if message is None:
            break
        await on_pending(message)
        taken += 1
    if taken:
        log.info("took %d pending control messages before consuming jobs", taken)
    await pending.consume(on_pending)
    await own.consume(on_own, no_ack=True)
    return channel


async def _handle(handler: ControlHandler, body: bytes, *, pending: bool) -> None:
    try:
        await handler(body, pending)
    except Exception:  # a control message must never take the session down
        log.exception("control message not handled")
