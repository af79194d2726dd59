"""Receiver-side verification for Python callers (no dependency beyond the standard library).

Usage in a receiver::

    from webhooks.verify import verify_webhook, WebhookVerificationFailed

    try:
        msg_id = verify_webhook(request.body, request.headers, ["whsec_..."])
    except WebhookVerificationFailed:
        return 400
    if seen_before(msg_id):      # at-least-once delivery: dedupe on webhook-id
        return 204

The ``standardwebhooks`` package's ``Webhook(secret).verify(body, headers)`` accepts the same
requests; this helper adds several secrets at once (for rotation) and an injectable clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from webhooks.signing import parse_secret

DEFAULT_TOLERANCE_S = 300


class WebhookVerificationFailed(Exception):
    """The request is not a genuine, fresh webhook from mtq; answer 400 and drop it."""


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str:
    """Check the signature and timestamp; return the ``webhook-id`` to dedupe on.

    ``body`` must be the raw request bytes, before any JSON parsing. Any of ``secrets`` may
    match, so a receiver can accept the old and new secret during a rotation.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationFailed("missing webhook-id, webhook-timestamp or signature")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationFailed("webhook-timestamp is not unix seconds") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookVerificationFailed("webhook-timestamp is outside the tolerance")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    offered = _v1_signatures(signatures)
    for secret in secrets:
        expected = hmac.new(parse_secret(secret).key, signed, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return msg_id
    raise WebhookVerificationFailed("no matching signature")


def _v1_signatures(header: str) -> list[bytes]:
    found = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found
