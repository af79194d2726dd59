"""The gateway's tables and their migrations: numbered, forward only, each applied once.

Every gateway replica runs :func:`migrate` at start under an advisory lock, so a rolling
update that brings a new migration applies it exactly once; ``schema_version`` records them.
"""

from __future__ import annotations

import re
from typing import Any

from mtq.core.errors import ConfigError

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# ``{schema}`` is the validated schema name (identifiers cannot be query parameters).
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
        CREATE TABLE {schema}.api_keys (
            key_hash text PRIMARY KEY,
            tenant text NOT NULL,
            prefix text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        );
        CREATE TABLE {schema}.jobs (
            tenant text NOT NULL,
            job_id text NOT NULL,
            api text NOT NULL,
            request_sha256 text NOT NULL,
            route text NOT NULL,
            status text NOT NULL,
            segments integer NOT NULL,
            done integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz,
            cancel_requested_at timestamptz,
            final_event jsonb,
            PRIMARY KEY (tenant, job_id)
        );
    """),
)
LOCK_KEY = 0x6D74715F67617465  # "mtq_gate": serialises migrations across replicas


def checked_schema(name: str) -> str:
    if not _SCHEMA_NAME.match(name):
        raise ConfigError(f"MTQ_GATEWAY_DB_SCHEMA={name!r}: use lower-case letters, digits and _")
    return name


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel on which a job's final event is announced."""
    return f"{checked_schema(schema)}_events"


def migrate(conn: Any, schema: str) -> int:
    """Apply the migrations ``conn`` (a blocking psycopg connection) lacks; the version after."""
    schema = checked_schema(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_version ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute(f"SELECT max(version) FROM {schema}.schema_version").fetchone()
        current = int(row[0] or 0)
        for version, statement in MIGRATIONS:
            if version > current:
                conn.execute(statement.format(schema=schema))
                conn.execute(f"INSERT INTO {schema}.schema_version (version) VALUES (%s)",
                             (version,))
                current = version
    return current


def connect(database_url: str) -> Any:
    """A blocking autocommit connection (console commands and migrations)."""
    import psycopg

    if not database_url:
        raise ConfigError("the gateway needs MTQ_DATABASE_URL (a PostgreSQL URL)")
    try:
        return psycopg.connect(database_url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        detail = " ".join(str(exc).split())  # psycopg spreads it over lines
        raise ConfigError(f"cannot reach PostgreSQL at MTQ_DATABASE_URL: {detail}") from exc
