"""Browsing and redriving side queues: the jobs' dead-letter queues and the parked results.

Both ``mtq dlq`` (:mod:`mtq.client.dead_letters`) and ``mtq webhooks list|inspect|redrive``
(``webhooks/parking.py``) work the same way, here:

- browsing reads with ``basic_get`` and never acks: each message is seen once and every one
  goes back to its queue when the channel closes, so looking changes nothing;
- redrive publishes a copy with a publisher confirm and only then acks the original: a crash in
  between leaves a duplicate, never a loss; an unconfirmed publish stops with PublishError and
  the message stays where it was;
- a broker that is down, refuses us or drops the connection is one line
  (:func:`mtq.client.broker.unreachable`), never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from mtq.client.broker import connect_blocking, unreachable
from mtq.core.errors import PublishError


@dataclass(frozen=True)
class Got:
    """One message taken (not acked) from a side queue."""

    delivery_tag: int
    properties: pika.BasicProperties
    body: bytes


class SideQueue:
    """A channel on one side queue: browse it, and move messages out of it with confirms."""

    def __init__(self, channel: BlockingChannel, queue: str) -> None:
        self.channel = channel
        self.queue = queue

    def depth(self) -> int | None:
        """Ready messages in the queue, or ``None`` when it was never declared.

        After ``None`` the channel is closed (a 404 closes it): there is nothing to browse.
        """
        try:
            declared = self.channel.queue_declare(self.queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 404:
                raise
            return None
        return int(declared.method.message_count)

    def browse(self, limit: int | None = None) -> Iterator[Got]:
        """Messages one by one, unacked (so each is seen once), at most ``limit`` of them.

        Stops reading as soon as the caller stops iterating: nothing past what was asked for
        is taken from the queue.
        """
        seen = 0
        while limit is None or seen < limit:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=False)
            if method is None:
                return
            seen += 1
            yield Got(delivery_tag=method.delivery_tag, properties=properties, body=body)

    def move(self, got: Got, exchange: str, routing_key: str,
             properties: pika.BasicProperties, what: str) -> None:
        """Publish ``got``'s body with ``properties`` (confirmed, mandatory), then ack it."""
        try:
            self.channel.basic_publish(exchange, routing_key, got.body, properties,
                                       mandatory=True)
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
            self.channel.basic_nack(got.delivery_tag, requeue=True)
            raise PublishError(f"{what}: redrive not confirmed ({exc!r}); it stays in "
                               f"{self.queue}") from exc
        self.channel.basic_ack(got.delivery_tag)

    def give_back(self, got: Got) -> None:
        """Return a browsed message to the queue now, rather than when the channel closes."""
        self.channel.basic_nack(got.delivery_tag, requeue=True)


@contextmanager
def side_queue(amqp_url: str, queue: str, *, name: str,
               confirm: bool = False) -> Iterator[SideQueue]:
    """One connection to browse or redrive ``queue``; closing it returns unacked messages.

    Connection failures, at the start or midway, become :class:`~mtq.core.errors.BrokerUnreachable`.
    """
    connection = connect_blocking(amqp_url, name)
    try:
        channel = connection.channel()
        if confirm:
            channel.confirm_delivery()
        yield SideQueue(channel, queue)
    except pika.exceptions.AMQPConnectionError as exc:
        raise unreachable(amqp_url, exc, connection) from exc
    finally:
        if connection.is_open:
            connection.close()
