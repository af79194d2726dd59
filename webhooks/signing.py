"""Standard Webhooks signing: ``whsec_`` secrets and ``v1`` signatures.

The ``webhook-id`` is the result contract's (:func:`mtq.core.events.webhook_id`). The timestamp is
per attempt; the signature covers ``{id}.{timestamp}.{body}`` over the exact body bytes the
worker serialized (never re-serialized here).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from mtq.core.errors import ConfigError

SECRET_PREFIX = "whsec_"
# Standard Webhooks recommends 24-64 random bytes; below 16 a secret is a typo, not a key.
MIN_SECRET_BYTES = 16


@dataclass(frozen=True)
class SigningKey:
    """One decoded ``whsec_`` secret. ``repr`` never shows the key bytes."""

    key: bytes
    fingerprint: str

    def __repr__(self) -> str:
        return f"SigningKey(fingerprint={self.fingerprint!r})"


def parse_secret(secret: str) -> SigningKey:
    """Decode ``whsec_<base64>``; raise ConfigError saying what is wrong (never the secret)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ConfigError("MTQ_WEBHOOK_SECRET: each secret must look like whsec_<base64 bytes>")
    encoded = secret[len(SECRET_PREFIX):]
    try:
        # Unpadded base64 is common in the wild; extra padding is ignored by the decoder.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("MTQ_WEBHOOK_SECRET: the part after whsec_ is not base64") from exc
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"MTQ_WEBHOOK_SECRET: a secret decodes to {len(key)} bytes; "
            f"use at least {MIN_SECRET_BYTES} (24-64 random bytes recommended)"
        )
    fingerprint = hashlib.sha256(key).hexdigest()[:8]
    return SigningKey(key=key, fingerprint=fingerprint)


def parse_secrets(secrets: Sequence[str]) -> tuple[SigningKey, ...]:
    """All configured secrets; at least one is required to sign anything."""
    if not secrets:
        raise ConfigError(
            "MTQ_WEBHOOK_SECRET is empty: set one or more whsec_ secrets (space-separated "
            "during a rotation) before starting the dispatcher"
        )
    return tuple(parse_secret(secret) for secret in secrets)


def signature(key: SigningKey, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64 HMAC-SHA256>`` entry."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key.key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign_headers(
    keys: Sequence[SigningKey], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per key, space-separated."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(key, msg_id, timestamp, body) for key in keys),
    }
