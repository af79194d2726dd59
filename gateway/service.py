"""What every endpoint does with a job: validate it, record it, publish it, wait for it.

The job is validated exactly as a worker will (``mtq.core.contract.parse_job``) before it is
recorded, so a bad request is answered at once and never reaches a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from gateway.access import Access
from gateway.broker import BrokerDown, Publisher, Unroutable
from gateway.errors import GatewayError
from gateway.settings import GatewaySettings
from gateway.store import FINAL, JobRow, Store, wait_key
from gateway.waiters import Waiters
from mtq.core.callback_policy import STATUS_ONLY_CALLBACK
from mtq.core.contract import ErrorCode, InvalidJob, JobLimits, NotAJob, parse_job
from mtq.core.settings import Settings

_STATUS_OF_CODE = {ErrorCode.JOB_TOO_LARGE.value: 413}


@dataclass
class Gateway:
    """The parts a request needs, built once by :mod:`gateway.app`."""

    settings: Settings
    config: GatewaySettings
    store: Store
    publisher: Publisher
    waiters: Waiters
    access: Access
    limits: JobLimits
    waiting: int = 0  # translation requests this replica is waiting on

    @property
    def routes(self) -> tuple[str, ...]:
        return tuple(self.settings.routes)

    async def submit(self, tenant: str, raw: dict[str, Any], api: str, *,
                     interactive: bool = False) -> tuple[JobRow, bool]:
        """Record and publish a job; the existing row when its job id was seen before."""
        raw = {**raw, "tenant": tenant}
        if raw.get("callback_url") is None:
            raw["callback_url"] = STATUS_ONLY_CALLBACK
        body = json.dumps(raw, ensure_ascii=False, sort_keys=True).encode()
        try:
            job = parse_job(body, self.limits)
        except InvalidJob as exc:
            status = _STATUS_OF_CODE.get(exc.code.value, 400)
            raise GatewayError(status, exc.code.value, exc.message) from exc
        except NotAJob as exc:
            raise GatewayError(400, ErrorCode.INVALID_JOB.value, exc.reason) from exc
        if job.route not in self.routes:
            raise GatewayError(400, ErrorCode.UNSUPPORTED_LANGUAGE_PAIR.value,
                               f"{job.route} is not served here (served: "
                               f"{', '.join(self.routes)})")
        digest = hashlib.sha256(body).hexdigest()
        row, created = await self.store.insert_job(tenant, job.job_id, api, digest, job.route,
                                                   len(job.segments))
        if not created:
            if row.request_sha256 != digest:
                raise GatewayError(409, "job_id_conflict", f"job {job.job_id} was submitted "
                                   "before with a different body")
            return row, False
        try:
            await self.publisher.publish_job(body, job.job_id, job.route,
                                             interactive=interactive)
        except Unroutable as exc:
            await self.store.delete_job(tenant, job.job_id)
            raise GatewayError(400, ErrorCode.UNSUPPORTED_LANGUAGE_PAIR.value,
                               f"no queue serves {job.route} right now") from exc
        except BrokerDown as exc:
            await self.store.delete_job(tenant, job.job_id)
            raise GatewayError(503, "unavailable", "RabbitMQ did not take the job; "
                               "try again", retry_after=5) from exc
        return row, True

    async def cancel(self, tenant: str, job_id: str) -> JobRow | None:
        row = await self.store.request_cancel(tenant, job_id)
        if row is not None and row.status not in FINAL:
            try:
                await self.publisher.publish_cancel(job_id, tenant)
            except BrokerDown as exc:
                raise GatewayError(503, "unavailable", "RabbitMQ did not take the cancel; "
                                   "try again", retry_after=5) from exc
        return row

    async def translate(self, tenant: str, api: str, source: str, target: str,
                        texts: list[str], options: dict[str, object]) -> list[str]:
        """Translate through the interactive lane and wait, bounded by ``sync_timeout_s``."""
        if self.waiting >= self.config.max_waiting:
            raise GatewayError(429, "overloaded", "too many translations in flight; retry",
                               retry_after=1)
        job_id = f"{api}.{uuid.uuid4().hex}"
        raw: dict[str, Any] = {"job_id": job_id, "source_lang": source, "target_lang": target,
                               "segments": texts}
        if options:
            raw["options"] = options
        self.waiting += 1
        try:
            row = await self._wait_for(tenant, job_id, raw, api)
        finally:
            self.waiting -= 1
        return _translations(row)

    async def _wait_for(self, tenant: str, job_id: str, raw: dict[str, Any],
                        api: str) -> JobRow:
        found: list[JobRow] = []

        async def finished() -> bool:
            row = await self.store.get_job(tenant, job_id)
            if row is not None and row.status in FINAL:
                found.append(row)
            return bool(found)

        async with self.waiters.expect(wait_key(tenant, job_id)) as event:
            await self.submit(tenant, raw, api, interactive=True)
            try:
                done = await self.waiters.wait(event, finished, self.config.sync_timeout_s)
            except asyncio.CancelledError:
                done = False  # the client went away: stop the work as below, then re-raise
                await self._abandon(tenant, job_id)
                raise
        if not done:
            await self._abandon(tenant, job_id)
            raise GatewayError(503, "timeout", "the translation took too long; retry later",
                               retry_after=max(1.0, self.config.sync_timeout_s / 4))
        await self.store.delete_job(tenant, job_id)
        return found[0]

    async def _abandon(self, tenant: str, job_id: str) -> None:
        # Unsent, the result is computed and dropped: nothing waits for it.
        with contextlib.suppress(BrokerDown):
            await self.publisher.publish_cancel(job_id, tenant)
        await self.store.delete_job(tenant, job_id)


def _translations(row: JobRow) -> list[str]:
    event = row.final_event or {}
    if row.status == "completed":
        return [str(t) for t in event.get("translations", [])]
    found = event.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    code = str(error.get("code", "internal_error"))
    message = str(error.get("message", f"the job ended {row.status}"))
    if code in (ErrorCode.INVALID_JOB.value, ErrorCode.UNSUPPORTED_LANGUAGE_PAIR.value):
        raise GatewayError(400, code, message)
    if code == ErrorCode.JOB_TOO_LARGE.value:
        raise GatewayError(413, code, message)
    raise GatewayError(503, code, message, retry_after=5)
