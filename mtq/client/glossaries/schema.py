"""The glossary schema and its migrations (forward only, each applied once, in order)."""

from __future__ import annotations

import re
from typing import Any

from mtq.core.errors import ConfigError

DEFAULT_SCHEMA = "mtq_terms"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Any ``{schema}`` is the validated schema name (identifiers cannot be query parameters).
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
        CREATE TABLE {schema}.glossaries (
            tenant text NOT NULL,
            id text NOT NULL,
            source_lang text NOT NULL,
            target_lang text NOT NULL,
            version integer NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant, id)
        );
        CREATE TABLE {schema}.glossary_entries (
            tenant text NOT NULL,
            glossary_id text NOT NULL,
            version integer NOT NULL,
            position integer NOT NULL,
            source text NOT NULL,
            target text NOT NULL,
            PRIMARY KEY (tenant, glossary_id, version, position)
        );
    """),
)
LOCK_KEY = 0x6D74715F7465726D  # "mtq_term": serialises migrations across processes


def checked_schema(name: str) -> str:
    if not _SCHEMA_NAME.match(name):
        raise ConfigError(f"MTQ_GLOSSARY_SCHEMA={name!r}: use lower-case letters, digits and _")
    return name


def migrate(conn: Any, schema: str = DEFAULT_SCHEMA) -> int:
    """Apply the migrations ``conn`` (a psycopg connection) lacks; returns the schema version."""
    schema = checked_schema(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute(f"SELECT max(version) FROM {schema}.schema_migrations").fetchone()
        current = int(row[0] or 0)
        for version, statement in MIGRATIONS:
            if version > current:
                conn.execute(statement.format(schema=schema))
                conn.execute(f"INSERT INTO {schema}.schema_migrations (version) VALUES (%s)",
                             (version,))
                current = version
    return current
