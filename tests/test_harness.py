"""The harness itself: the loopback receiver answers and verifies, vhosts come and go."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from standardwebhooks import Webhook

from tests.harness import (
    TEST_SECRET,
    LoopbackReceiver,
    Reply,
    free_port,
    private_vhost,
    queue_depth,
)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _signed(body: bytes, msg_id: str) -> dict[str, str]:
    from datetime import datetime, timezone

    now = datetime.now(tz=timezone.utc)
    signature = Webhook(TEST_SECRET).sign(msg_id, now, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature, "content-type": "application/json"}


def test_receiver_verifies_signatures_and_counts_duplicates() -> None:
    body = json.dumps({"type": "job.completed", "job_id": "j1"}).encode()
    with LoopbackReceiver(secret=TEST_SECRET) as receiver:
        assert _post(receiver.url, body, _signed(body, "msg_1")) == 200
        assert _post(receiver.url, body, _signed(body, "msg_1")) == 200
        assert _post(receiver.url, body, {"webhook-id": "msg_2"}) == 400
        (first, _) = receiver.wait_for(2)
        assert first.event == {"type": "job.completed", "job_id": "j1"}
        assert receiver.duplicates() == 1
        assert set(receiver.first_by_job()) == {"j1"}
        assert [r.bad_signature for r in receiver.seen()] == [False, False, True]


def test_responder_picks_each_reply_and_restart_keeps_the_port() -> None:
    with LoopbackReceiver(responder=lambda _r, n: Reply(500 if n == 1 else 204)) as receiver:
        assert _post(receiver.url, b"{}", {}) == 500
        assert _post(receiver.url, b"{}", {}) == 204
        assert len(receiver.delivered()) == 1
        port = receiver.port
        receiver.stop()
        with pytest.raises(urllib.error.URLError):
            _post(receiver.url, b"{}", {})
        receiver.start()
        assert receiver.port == port
        assert _post(receiver.url, b"{}", {}) == 204


def test_free_port_is_bindable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))


@pytest.mark.integration
def test_private_vhost_is_usable_and_removed() -> None:
    import pika

    with private_vhost("mtq-test-harness") as (amqp_url, _name):
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.queue_declare("q")
            channel.basic_publish("", "q", b"x")
        finally:
            connection.close()
        assert queue_depth(amqp_url, "q") == 1
    with pytest.raises(pika.exceptions.AMQPError):
        pika.BlockingConnection(pika.URLParameters(amqp_url)).close()
