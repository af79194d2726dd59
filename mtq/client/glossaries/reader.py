"""What a worker reads: one glossary's current version, and that version's entries (async)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mtq.client.glossaries.schema import DEFAULT_SCHEMA, checked_schema
from mtq.core.terms.entries import TermEntry


@dataclass(frozen=True)
class StoredGlossary:
    id: str
    tenant: str
    source_lang: str
    target_lang: str
    version: int
    entries: tuple[TermEntry, ...]


class GlossaryReader:
    """Queries on one async psycopg connection (``psycopg.AsyncConnection``, autocommit)."""

    def __init__(self, conn: Any, schema: str = DEFAULT_SCHEMA) -> None:
        self.conn = conn
        self.schema = checked_schema(schema)

    async def head(self, tenant: str, glossary_id: str) -> tuple[int, str, str] | None:
        """(current version, source_lang, target_lang), or None when there is no such glossary
        (or no glossary schema at all yet)."""
        import psycopg

        try:
            cursor = await self.conn.execute(
                f"SELECT version, source_lang, target_lang FROM {self.schema}.glossaries "
                "WHERE tenant = %s AND id = %s", (tenant, glossary_id),
            )
        except psycopg.errors.UndefinedTable:
            return None
        row = await cursor.fetchone()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    async def load(self, tenant: str, glossary_id: str) -> StoredGlossary | None:
        """The current version with its entries (a version's entries never change once
        written, so no snapshot is needed between the two reads)."""
        head = await self.head(tenant, glossary_id)
        if head is None:
            return None
        version, source_lang, target_lang = head
        cursor = await self.conn.execute(
            f"SELECT source, target FROM {self.schema}.glossary_entries "
            "WHERE tenant = %s AND glossary_id = %s AND version = %s ORDER BY position",
            (tenant, glossary_id, version),
        )
        rows = await cursor.fetchall()
        return StoredGlossary(glossary_id, tenant, source_lang, target_lang, version,
                              tuple(TermEntry(str(s), str(t)) for s, t in rows))
