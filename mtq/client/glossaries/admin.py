"""Creating, listing, showing and deleting stored glossaries (blocking: console commands).

Each write runs the migrations first (idempotent), so a fresh database needs no extra step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mtq.client.glossaries.schema import DEFAULT_SCHEMA, checked_schema, migrate
from mtq.core.errors import ConfigError
from mtq.core.terms.entries import (
    GLOSSARY_ID_PATTERN,
    MAX_STORED_ENTRIES,
    TermEntry,
    entries_problem,
)


class GlossaryError(ConfigError):
    """A glossary that cannot be stored as given (the message names the entry)."""


@dataclass(frozen=True)
class GlossaryInfo:
    tenant: str
    id: str
    source_lang: str
    target_lang: str
    version: int
    entries: int


def connect(database_url: str) -> Any:
    import psycopg

    if not database_url:
        raise ConfigError("stored glossaries need MTQ_DATABASE_URL (a PostgreSQL URL)")
    try:
        return psycopg.connect(database_url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise ConfigError(f"cannot reach PostgreSQL at MTQ_DATABASE_URL: {exc}") from exc


def create(
    conn: Any, tenant: str, glossary_id: str, route: tuple[str, str],
    entries: Sequence[TermEntry], schema: str = DEFAULT_SCHEMA,
) -> GlossaryInfo:
    """Store ``entries`` as the glossary's next version (1 for a new id)."""
    if not GLOSSARY_ID_PATTERN.match(glossary_id):
        raise GlossaryError("a glossary id is 1-64 characters of [A-Za-z0-9._:-]")
    located = [(f"entry {n + 1} ({e.source[:40]!r})", e) for n, e in enumerate(entries)]
    problem = entries_problem(located, True, MAX_STORED_ENTRIES, "the glossary")
    if problem is not None:
        raise GlossaryError(problem)
    if not entries:
        raise GlossaryError("the glossary has no entries")
    schema = checked_schema(schema)
    migrate(conn, schema)
    source_lang, target_lang = route
    with conn.transaction():
        row = conn.execute(
            f"SELECT version, source_lang, target_lang FROM {schema}.glossaries "
            "WHERE tenant = %s AND id = %s FOR UPDATE", (tenant, glossary_id),
        ).fetchone()
        if row is not None and (row[1], row[2]) != route:
            raise GlossaryError(f"glossary {glossary_id!r} is for {row[1]}-{row[2]}, "
                                f"not {source_lang}-{target_lang}")
        version = 1 if row is None else int(row[0]) + 1
        with conn.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {schema}.glossary_entries "
                "(tenant, glossary_id, version, position, source, target) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [(tenant, glossary_id, version, n, e.source, e.target)
                 for n, e in enumerate(entries)],
            )
        conn.execute(
            f"INSERT INTO {schema}.glossaries (tenant, id, source_lang, target_lang, version) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant, id) DO UPDATE "
            "SET version = EXCLUDED.version, updated_at = now()",
            (tenant, glossary_id, source_lang, target_lang, version),
        )
        # Workers that LISTEN hear of it at once; the others within MTQ_GLOSSARY_TTL_S.
        conn.execute("SELECT pg_notify(%s, %s)", (f"{schema}_changed", f"{tenant}\t{glossary_id}"))
    return GlossaryInfo(tenant, glossary_id, source_lang, target_lang, version, len(entries))


def listing(conn: Any, tenant: str | None, schema: str = DEFAULT_SCHEMA) -> list[GlossaryInfo]:
    schema = checked_schema(schema)
    migrate(conn, schema)
    rows = conn.execute(
        f"SELECT g.tenant, g.id, g.source_lang, g.target_lang, g.version, "
        f"(SELECT count(*) FROM {schema}.glossary_entries e WHERE e.tenant = g.tenant "
        "AND e.glossary_id = g.id AND e.version = g.version) "
        f"FROM {schema}.glossaries g WHERE %s::text IS NULL OR g.tenant = %s "
        "ORDER BY g.tenant, g.id", (tenant, tenant),
    ).fetchall()
    return [GlossaryInfo(r[0], r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]


def show(
    conn: Any, tenant: str, glossary_id: str, version: int | None = None,
    schema: str = DEFAULT_SCHEMA,
) -> tuple[GlossaryInfo, list[TermEntry]] | None:
    found = [g for g in listing(conn, tenant, schema) if g.id == glossary_id]
    if not found:
        return None
    info = found[0]
    wanted = version or info.version
    rows = conn.execute(
        f"SELECT source, target FROM {checked_schema(schema)}.glossary_entries "
        "WHERE tenant = %s AND glossary_id = %s AND version = %s ORDER BY position",
        (tenant, glossary_id, wanted),
    ).fetchall()
    if version is not None and not rows:
        return None
    return GlossaryInfo(tenant, glossary_id, info.source_lang, info.target_lang, wanted,
                        len(rows)), [TermEntry(s, t) for s, t in rows]


def delete(conn: Any, tenant: str, glossary_id: str, schema: str = DEFAULT_SCHEMA) -> bool:
    schema = checked_schema(schema)
    migrate(conn, schema)
    with conn.transaction():
        gone = conn.execute(f"DELETE FROM {schema}.glossaries WHERE tenant = %s AND id = %s",
                            (tenant, glossary_id)).rowcount
        conn.execute(f"DELETE FROM {schema}.glossary_entries WHERE tenant = %s "
                     "AND glossary_id = %s", (tenant, glossary_id))
        conn.execute("SELECT pg_notify(%s, %s)", (f"{schema}_changed", f"{tenant}\t{glossary_id}"))
    return bool(gone)
