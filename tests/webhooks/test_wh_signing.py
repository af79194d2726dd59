"""Standard Webhooks ids and signatures, checked against the standardwebhooks library."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from mtq.core.errors import ConfigError
from mtq.core.events import webhook_id
from tests.webhooks.whtest import SECRET, SECRET_NEXT, event_body
from webhooks.signing import parse_secret, parse_secrets, sign_headers, signature
from webhooks.verify import WebhookVerificationFailed, verify_webhook


def test_webhook_id_is_deterministic_and_distinct() -> None:
    first = webhook_id("order-1.part-1", "job.completed")
    assert first == webhook_id("order-1.part-1", "job.completed")
    assert first.startswith("msg_") and len(first) == 36
    assert first != webhook_id("order-1.part-1", "job.failed")
    assert first != webhook_id("order-1.part-2", "job.completed")
    # The separator keeps the two fields apart.
    assert webhook_id("a.b", "c") != webhook_id("a", "b.c")


def test_signature_matches_a_fixed_vector() -> None:
    # Vector from the Standard Webhooks specification's test suite.
    key = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    assert signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_library_verifies_our_signature() -> None:
    body = event_body("job-1")
    now = int(time.time())
    headers = sign_headers(parse_secrets([SECRET]), webhook_id("job-1", "job.completed"),
                           now, body)
    assert Webhook(SECRET).verify(body, headers)["job_id"] == "job-1"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET_NEXT).verify(body, headers)


def test_rotation_signs_with_every_secret() -> None:
    body = event_body("job-2")
    headers = sign_headers(parse_secrets([SECRET, SECRET_NEXT]), "msg_x", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    # A receiver that knows only the old or only the new secret both accept it.
    Webhook(SECRET).verify(body, headers)
    Webhook(SECRET_NEXT).verify(body, headers)
    assert verify_webhook(body, headers, [SECRET_NEXT]) == "msg_x"


def test_library_signature_equals_ours() -> None:
    body = event_body("job-3")
    stamp = 1_700_000_000
    ours = sign_headers(parse_secrets([SECRET]), "msg_y", stamp, body)["webhook-signature"]
    theirs = Webhook(SECRET).sign("msg_y", datetime.fromtimestamp(stamp, tz=timezone.utc),
                                  body.decode())
    assert ours == theirs


def test_verify_helper_rejects_tampering_and_stale_timestamps() -> None:
    body = event_body("job-4")
    now = 1_700_000_000
    headers = sign_headers(parse_secrets([SECRET]), "msg_z", now, body)
    assert verify_webhook(body, headers, [SECRET], now=now + 299) == "msg_z"
    with pytest.raises(WebhookVerificationFailed, match="tolerance"):
        verify_webhook(body, headers, [SECRET], now=now + 301)
    with pytest.raises(WebhookVerificationFailed, match="tolerance"):
        verify_webhook(body, headers, [SECRET], now=now - 301)
    with pytest.raises(WebhookVerificationFailed, match="no matching"):
        verify_webhook(body[:-1] + b" ", headers, [SECRET], now=now)
    with pytest.raises(WebhookVerificationFailed, match="missing"):
        verify_webhook(body, {"webhook-id": "msg_z"}, [SECRET], now=now)
    bad_version = {**headers, "webhook-signature": "v2," + headers["webhook-signature"][3:]}
    with pytest.raises(WebhookVerificationFailed):
        verify_webhook(body, bad_version, [SECRET], now=now)


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        ((), "empty"),
        (("not-a-secret",), "whsec_"),
        (("whsec_!!!not base64!!!",), "base64"),
        (("whsec_" + base64.b64encode(b"short").decode(),), "at least"),
    ],
)
def test_bad_secrets_are_config_errors(secrets: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_secrets(secrets)


def test_unpadded_secret_is_accepted_and_repr_hides_key() -> None:
    raw = b"0123456789abcdefghij"  # 20 bytes: base64 needs padding
    unpadded = "whsec_" + base64.b64encode(raw).decode().rstrip("=")
    key = parse_secret(unpadded)
    assert key.key == raw
    assert "0123" not in repr(key)
