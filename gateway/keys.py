"""API keys: created by ``mtq keys create``, stored as SHA-256 hashes only.

A key is ``mtqk_`` + 32 random bytes in URL-safe base64: long enough that a fast unsalted hash
is safe (nothing to brute-force), and fast to check on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from gateway.schema import checked_schema, migrate
from mtq.core.contract import TENANT_PATTERN
from mtq.core.errors import ConfigError

KEY_PREFIX = "mtqk_"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def create_key(conn: Any, schema: str, tenant: str) -> str:
    """Store a new key for ``tenant`` and return it (the only time it is ever seen)."""
    if not TENANT_PATTERN.match(tenant):
        raise ConfigError(f"--tenant {tenant!r}: 1-64 characters of [A-Za-z0-9._:-]")
    migrate(conn, schema)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        f"INSERT INTO {checked_schema(schema)}.api_keys (key_hash, tenant, prefix) "
        "VALUES (%s, %s, %s)", (key_hash(key), tenant, key[:12]),
    )
    return key


def revoke_key(conn: Any, schema: str, prefix: str) -> int:
    """Revoke the keys starting with ``prefix`` (as ``list`` shows it); how many were."""
    migrate(conn, schema)
    cursor = conn.execute(
        f"UPDATE {checked_schema(schema)}.api_keys SET revoked_at = now() "
        "WHERE prefix = %s AND revoked_at IS NULL", (prefix,),
    )
    return int(cursor.rowcount)


def list_keys(conn: Any, schema: str) -> list[tuple[str, str, str, bool]]:
    """(prefix, tenant, created, revoked) of every key."""
    migrate(conn, schema)
    rows = conn.execute(
        f"SELECT prefix, tenant, created_at, revoked_at IS NOT NULL "
        f"FROM {checked_schema(schema)}.api_keys ORDER BY created_at"
    ).fetchall()
    return [(str(p), str(t), c.isoformat(timespec="seconds"), bool(r)) for p, t, c, r in rows]
