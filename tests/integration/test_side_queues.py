"""Side queues (dead letters, parked results): one browse/redrive path, one broker-down error."""

from __future__ import annotations

import os
import subprocess
import sys

import pika
import pytest

from mtq.client.broker import connect_blocking
from mtq.client.side_queues import side_queue
from mtq.core.errors import BrokerUnreachable, PublishError
from mtq.core.headers import REASON_HEADER
from mtq.core.topology import DEAD_LETTER_EXCHANGE, dead_letter_queue
from tests.harness import free_port
from tests.integration.helpers import queue_depth

pytestmark = pytest.mark.integration


def _fill(amqp_url: str, queue: str, count: int) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    channel.confirm_delivery()
    for index in range(count):
        channel.basic_publish("", queue, f"m{index}".encode(),
                              pika.BasicProperties(message_id=f"id-{index}"), mandatory=True)
    connection.close()


def test_browsing_changes_nothing_and_stops_at_the_limit(amqp_url: str) -> None:
    _fill(amqp_url, "side.a", 5)
    with side_queue(amqp_url, "side.a", name="test") as side:
        assert side.depth() == 5
        bodies = [got.body for got in side.browse(limit=2)]
        assert bodies == [b"m0", b"m1"]
        # Only what was asked for was taken: the rest is still ready in the queue.
        assert side.depth() == 3
    assert queue_depth(amqp_url, "side.a") == 5


def test_move_publishes_confirmed_then_acks(amqp_url: str) -> None:
    _fill(amqp_url, "side.a", 3)
    _fill(amqp_url, "side.b", 0)
    with side_queue(amqp_url, "side.a", name="test", confirm=True) as side:
        for got in side.browse(limit=2):
            side.move(got, "", "side.b", got.properties, "test message")
    assert queue_depth(amqp_url, "side.a") == 1
    assert queue_depth(amqp_url, "side.b") == 2


def test_an_unroutable_move_leaves_the_message_in_place(amqp_url: str) -> None:
    _fill(amqp_url, "side.a", 1)
    with side_queue(amqp_url, "side.a", name="test", confirm=True) as side:
        got = next(side.browse())
        with pytest.raises(PublishError, match=r"stays in side\.a"):
            side.move(got, "", "no.such.queue", got.properties, "test message")
    assert queue_depth(amqp_url, "side.a") == 1


def test_a_queue_never_declared_reads_as_absent(amqp_url: str) -> None:
    with side_queue(amqp_url, "never.declared", name="test") as side:
        assert side.depth() is None


def test_a_broker_that_is_down_is_one_line_naming_the_address() -> None:
    port = free_port()
    with pytest.raises(BrokerUnreachable) as caught:
        connect_blocking(f"amqp://guest:guest@127.0.0.1:{port}/%2F", "test")
    assert str(caught.value).startswith(
        f"cannot reach RabbitMQ at 127.0.0.1:{port} (connection refused): is RabbitMQ running?"
    )
    assert "guest" not in str(caught.value)


def _mtq(amqp_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MTQ_AMQP_URL": amqp_url}
    return subprocess.run([sys.executable, "-m", "mtq", "--log-level", "WARNING", *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("command", [
    ("dlq", "list", "--route", "en-de"),
    ("dlq", "redrive", "--route", "en-de"),
    ("webhooks", "list"),
    ("webhooks", "inspect"),
    ("webhooks", "redrive", "--all"),
])
def test_side_queue_commands_with_the_broker_down(command: tuple[str, ...]) -> None:
    port = free_port()
    result = _mtq(f"amqp://guest:guest@127.0.0.1:{port}/%2F", *command)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"mtq: cannot reach RabbitMQ at 127.0.0.1:{port} (connection refused): is RabbitMQ "
        "running? Start one with `rabbitmq-server -detached` or set MTQ_AMQP_URL."
    ]
    assert "Traceback" not in result.stderr


def test_dlq_list_of_a_route_never_declared_is_empty(amqp_url: str) -> None:
    result = _mtq(amqp_url, "dlq", "list", "--route", "en-fr")
    assert result.returncode == 0, result.stderr
    assert "mtq.jobs.en-fr.dead: 0 message(s)" in result.stdout


def test_dlq_redrive_reads_no_further_than_the_limit(amqp_url: str) -> None:
    assert _mtq(amqp_url, "topology").returncode == 0
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    for _ in range(4):
        channel.basic_publish(DEAD_LETTER_EXCHANGE, dead_letter_queue("en-de"), b"{}",
                              pika.BasicProperties(headers={REASON_HEADER: "r"}), mandatory=True)
    connection.close()
    result = _mtq(amqp_url, "dlq", "redrive", "--route", "en-de", "--limit", "1")
    assert result.returncode == 0 and "redrove 1" in result.stdout
    assert queue_depth(amqp_url, dead_letter_queue("en-de")) == 3
