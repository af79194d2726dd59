"""Public contract, additive to v1: the control message that cancels a job.

Publish to the fanout exchange ``mtq.control`` (:mod:`mtq.core.topology`): every running
worker gets a copy on a queue of its own and applies it to the jobs it holds; a durable queue
keeps it for the workers that start later (a job not picked up yet is cancelled at intake).

``{"type": "job.cancel", "job_id": "...", "tenant": "..."}``: ``tenant`` is optional; when
given, only a job of that tenant is cancelled, else any job with that ``job_id``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mtq.core.contract import JOB_ID_PATTERN, TENANT_PATTERN

CANCEL = "job.cancel"
MAX_BODY_BYTES = 4096


class InvalidControl(ValueError):
    """A control message that is not one: logged in one line and dropped."""


@dataclass(frozen=True)
class CancelRequest:
    job_id: str
    tenant: str | None = None

    def matches(self, job_id: str, tenant: str | None) -> bool:
        """Whether this cancel is for the job ``job_id`` of ``tenant``."""
        return job_id == self.job_id and (self.tenant is None or self.tenant == tenant)

    def to_json(self) -> dict[str, str]:
        body = {"type": CANCEL, "job_id": self.job_id}
        if self.tenant is not None:
            body["tenant"] = self.tenant
        return body

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


def parse_control(body: bytes) -> CancelRequest:
    """The request in a control message body; :class:`InvalidControl` says what is wrong."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidControl(f"body is {len(body)} bytes; a control message has at most "
                             f"{MAX_BODY_BYTES}")
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidControl(f"body is not UTF-8 JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidControl(f"body is JSON {type(raw).__name__}, not an object")
    kind = raw.get("type")
    if kind != CANCEL:
        raise InvalidControl(f"type is {kind!r}; the only control message is {CANCEL!r}")
    unknown = sorted(set(raw) - {"type", "job_id", "tenant"})
    if unknown:
        raise InvalidControl(f"unknown fields: {', '.join(unknown)}")
    job_id, tenant = raw.get("job_id"), raw.get("tenant")
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.match(job_id):
        raise InvalidControl("job_id must be 1-128 characters of [A-Za-z0-9._:-]")
    if tenant is not None and not (isinstance(tenant, str) and TENANT_PATTERN.match(tenant)):
        raise InvalidControl("tenant must be 1-64 characters of [A-Za-z0-9._:-]")
    return CancelRequest(job_id, tenant)
