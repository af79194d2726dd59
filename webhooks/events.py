"""The result message on ``mtq.results``: read at the edge, rewritten on retry and parking.

The body is the exact event JSON the worker serialized; it is signed and POSTed as is. Routing
facts travel in headers so the dispatcher does not parse the body to route it:

- ``x-mtq-callback-url``, ``x-mtq-job-id``, ``x-mtq-event-type``, ``x-mtq-webhook-id``
  (set by the worker; names and values owned by :mod:`mtq.core.events`);
- ``x-mtq-attempt``: ladder attempts already spent (absent means none);
- on parking: ``x-mtq-reason``, ``x-mtq-last-status``, ``x-mtq-last-error``.

- ``x-mtq-tenant``: the job's tenant, for isolation per tenant (``tenantgates.py``).
- ``x-mtq-done``: a ``job.progress`` event's ``done`` (part of its webhook id);
  ``x-mtq-deliver: false``: an event for the gateway's queue only, acked without a POST.

Events published by a worker from before the tenant header are read for their ``tenant``
from the body; only a body that mentions it at all is parsed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mtq.core.contract import TENANT_PATTERN
from mtq.core.errors import PermanentError
from mtq.core.events import EVENT_PROGRESS, EVENT_TYPES, webhook_id
from mtq.core.headers import (
    ATTEMPT_HEADER,
    CALLBACK_HEADER,
    DELIVER_HEADER,
    DONE_HEADER,
    EVENT_TYPE_HEADER,
    JOB_ID_HEADER,
    LAST_ERROR_HEADER,
    LAST_STATUS_HEADER,
    REASON_HEADER,
    REDRIVES_HEADER,
    TENANT_HEADER,
)

# Broker bookkeeping that must not be copied into a message we publish ourselves.
_BROKER_HEADER_PREFIXES = ("x-death", "x-first-death", "x-last-death", "x-delivery-count")
_PARK_HEADERS = (REASON_HEADER, LAST_STATUS_HEADER, LAST_ERROR_HEADER)
MAX_ERROR_CHARS = 500


class InvalidResult(PermanentError):
    """A message on mtq.results that is not a result event; parked as ``invalid_message``."""


@dataclass(frozen=True)
class ResultMessage:
    """A result message as the dispatcher reads it: routing facts from headers, body opaque."""

    webhook_id: str
    job_id: str
    event_type: str
    callback_url: str
    body: bytes
    attempt: int  # ladder attempts already spent before this one
    tenant: str = ""  # the job's tenant, '' when it has none (or the body is unreadable)
    deliver: bool = True  # False: not for a webhook (job.progress without options.progress)

    @property
    def host(self) -> str:
        return callback_host(self.callback_url)


def callback_host(url: str) -> str:
    """The lowercase host of a callback URL ('' when unreadable): the per-host limit key."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def header_text(headers: Mapping[str, Any], name: str) -> str:
    value = headers.get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else ""


def header_int(headers: Mapping[str, Any], name: str) -> int:
    value = headers.get(name)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(header_text(headers, name) or 0)
    except ValueError:
        return 0


def parse_result(body: bytes, headers: Mapping[str, Any] | None) -> ResultMessage:
    """Validate the routing headers of one message; raise InvalidResult when unusable."""
    headers = headers or {}
    job_id = header_text(headers, JOB_ID_HEADER)
    event_type = header_text(headers, EVENT_TYPE_HEADER)
    callback_url = header_text(headers, CALLBACK_HEADER)
    if not job_id:
        raise InvalidResult(f"missing {JOB_ID_HEADER} header")
    if event_type not in EVENT_TYPES:
        raise InvalidResult(f"{EVENT_TYPE_HEADER} is {event_type!r}, not a known event type")
    if not callback_url:
        raise InvalidResult(f"missing {CALLBACK_HEADER} header")
    if not body:
        raise InvalidResult("empty body")
    # Recomputed rather than trusted, so a stale or hand-edited header cannot break dedupe.
    done = header_int(headers, DONE_HEADER) if event_type == EVENT_PROGRESS else None
    expected = webhook_id(job_id, event_type, done)
    return ResultMessage(
        webhook_id=expected, job_id=job_id, event_type=event_type, callback_url=callback_url,
        body=body, attempt=max(0, header_int(headers, ATTEMPT_HEADER)),
        tenant=tenant_from(headers, body),
        deliver=header_text(headers, DELIVER_HEADER).lower() != "false",
    )


def tenant_from(headers: Mapping[str, Any], body: bytes) -> str:
    """The job's tenant: its header, or (older workers set none) the body's ``tenant``."""
    tenant = header_text(headers, TENANT_HEADER)
    if tenant:
        return tenant if TENANT_PATTERN.fullmatch(tenant) else ""
    return tenant_of(body)


def tenant_of(body: bytes) -> str:
    """The event's top-level ``tenant``, or '' (none, not a string of the contract's form, or a
    body that is not a JSON object). A ``tenant`` inside ``metadata`` is not the tenant."""
    if b'"tenant"' not in body:
        return ""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    tenant = event.get("tenant") if isinstance(event, dict) else None
    return tenant if isinstance(tenant, str) and TENANT_PATTERN.fullmatch(tenant) else ""


def _carried(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        key: value for key, value in (headers or {}).items()
        if not key.startswith(_BROKER_HEADER_PREFIXES)
    }


def retry_headers(headers: Mapping[str, Any] | None, attempt: int, status: int | None,
                  error: str) -> dict[str, Any]:
    """Headers for the retry ladder: the attempt count and what went wrong last."""
    out = _carried(headers)
    out[ATTEMPT_HEADER] = attempt
    _set_last(out, status, error)
    return out


def deferred_headers(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Headers for an event put back on the ladder without spending an attempt."""
    out = _carried(headers)
    out[ATTEMPT_HEADER] = max(0, header_int(out, ATTEMPT_HEADER))
    return out


def parked_headers(headers: Mapping[str, Any] | None, reason: str, attempt: int,
                   status: int | None, error: str) -> dict[str, Any]:
    out = retry_headers(headers, attempt, status, error)
    out[REASON_HEADER] = reason
    return out


def redrive_headers(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """A parked event going back to mtq.results: attempts reset, parking notes dropped."""
    out = {key: value for key, value in _carried(headers).items() if key not in _PARK_HEADERS}
    out[ATTEMPT_HEADER] = 0
    out[REDRIVES_HEADER] = header_int(out, REDRIVES_HEADER) + 1
    return out


def _set_last(out: dict[str, Any], status: int | None, error: str) -> None:
    if status is None:
        out.pop(LAST_STATUS_HEADER, None)
    else:
        out[LAST_STATUS_HEADER] = status
    out[LAST_ERROR_HEADER] = error[:MAX_ERROR_CHARS]
