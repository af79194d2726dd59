"""Job state and API keys in PostgreSQL, for every gateway replica alike.

Each request or event is one short statement (or one transaction) on a pooled connection;
nothing is kept in process memory, so any replica answers for any job and a restart loses
nothing. A job's final event is announced with ``NOTIFY`` in the transaction that stores it
(:mod:`gateway.waiters` wakes the request waiting for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from gateway.schema import checked_schema, notify_channel

FINAL = ("completed", "failed", "cancelled")
_COLUMNS = ("tenant, job_id, api, request_sha256, route, status, segments, done, created_at, "
            "updated_at, started_at, finished_at, cancel_requested_at, final_event")


@dataclass(frozen=True)
class JobRow:
    tenant: str
    job_id: str
    api: str  # "jobs" (the /v1 API), "deepl" or "libre" (answered in the request)
    request_sha256: str
    route: str
    status: str  # queued, running, cancelling, completed, failed, cancelled
    segments: int
    done: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested_at: datetime | None
    final_event: dict[str, Any] | None


class Store:
    def __init__(self, pool: AsyncConnectionPool[Any], schema: str) -> None:
        self._pool = pool
        self._schema = checked_schema(schema)
        self._channel = notify_channel(schema)

    async def key_tenant(self, key_hash: str) -> str | None:
        """The tenant of a key that exists and is not revoked."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                f"SELECT tenant FROM {self._schema}.api_keys "
                "WHERE key_hash = %s AND revoked_at IS NULL", (key_hash,))
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def insert_job(self, tenant: str, job_id: str, api: str, request_sha256: str,
                         route: str, segments: int) -> tuple[JobRow, bool]:
        """The job's row and whether this call created it (False: it existed already)."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                f"INSERT INTO {self._schema}.jobs (tenant, job_id, api, request_sha256, route, "
                "status, segments) VALUES (%s, %s, %s, %s, %s, 'queued', %s) "
                f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
                (tenant, job_id, api, request_sha256, route, segments))
            row = await cursor.fetchone()
        if row is not None:
            return JobRow(*row), True
        existing = await self.get_job(tenant, job_id)
        assert existing is not None, "a conflicting row is never deleted while conflicting"
        return existing, False

    async def get_job(self, tenant: str, job_id: str) -> JobRow | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                f"SELECT {_COLUMNS} FROM {self._schema}.jobs WHERE tenant = %s AND job_id = %s",
                (tenant, job_id))
            row = await cursor.fetchone()
        return None if row is None else JobRow(*row)

    async def delete_job(self, tenant: str, job_id: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(f"DELETE FROM {self._schema}.jobs WHERE tenant = %s "
                               "AND job_id = %s", (tenant, job_id))

    async def request_cancel(self, tenant: str, job_id: str) -> JobRow | None:
        """Mark an unfinished job ``cancelling``; the row as it is now (None: no such job)."""
        async with self._pool.connection() as conn:
            await conn.execute(
                f"UPDATE {self._schema}.jobs SET status = 'cancelling', updated_at = now(), "
                "cancel_requested_at = coalesce(cancel_requested_at, now()) "
                "WHERE tenant = %s AND job_id = %s AND finished_at IS NULL",
                (tenant, job_id))
        return await self.get_job(tenant, job_id)

    async def apply_progress(self, tenant: str, job_id: str, done: int) -> bool:
        """Progress only moves forward, and never after the final event."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                f"UPDATE {self._schema}.jobs SET done = GREATEST(done, LEAST(%s, segments)), "
                "status = CASE WHEN status = 'queued' THEN 'running' ELSE status END, "
                "started_at = coalesce(started_at, now()), updated_at = now() "
                "WHERE tenant = %s AND job_id = %s AND finished_at IS NULL",
                (done, tenant, job_id))
            return bool(cursor.rowcount > 0)

    async def apply_final(self, tenant: str, job_id: str, status: str, done: int | None,
                          event: dict[str, Any]) -> bool:
        """Store the first final event of a job (a later one, e.g. a duplicate, is ignored)."""
        assert status in FINAL
        async with self._pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                f"UPDATE {self._schema}.jobs SET status = %s, "
                "done = coalesce(%s, done), final_event = %s, finished_at = now(), "
                "started_at = coalesce(started_at, now()), updated_at = now() "
                "WHERE tenant = %s AND job_id = %s AND finished_at IS NULL",
                (status, done, Jsonb(event), tenant, job_id))
            if cursor.rowcount == 0:
                return False
            await conn.execute("SELECT pg_notify(%s, %s)",
                               (self._channel, wait_key(tenant, job_id)))
        return True


def wait_key(tenant: str, job_id: str) -> str:
    # "/" appears in neither a tenant nor a job id, so the pair reads back unambiguously.
    return f"{tenant}/{job_id}"
