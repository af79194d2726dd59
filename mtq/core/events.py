"""Public contract v1, the way out: ``job.completed`` / ``job.failed`` (and, additive,
``job.cancelled`` and the non-final ``job.progress``). The one owner of the result message:
typed events, the signed bytes, the headers on ``mtq.results`` and the stable ``webhook-id``;
the dispatcher reads the headers back (``webhooks/events.py``). Additive only.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from mtq.core.contract import ErrorCode, Job
from mtq.core.headers import (
    CALLBACK_HEADER,
    DELIVER_HEADER,
    DONE_HEADER,
    EVENT_TYPE_HEADER,
    JOB_ID_HEADER,
    TENANT_HEADER,
    WEBHOOK_ID_HEADER,
)
from mtq.core.markup import SegmentWarning
from mtq.core.terms import SegmentTerms

EVENT_COMPLETED = "job.completed"
EVENT_FAILED = "job.failed"
EVENT_CANCELLED = "job.cancelled"
EVENT_PROGRESS = "job.progress"
EVENT_TYPES = frozenset({EVENT_COMPLETED, EVENT_FAILED, EVENT_CANCELLED, EVENT_PROGRESS})

# Routing facts the worker sets on a result message, so the dispatcher never parses the body.


def webhook_id(job_id: str, event_type: str, done: int | None = None) -> str:
    """The ``webhook-id`` of one event: ``msg_`` + 32 lowercase base32 chars of a SHA-256.

    From the job id and event type (and a progress event's ``done``) only, so every retry and
    redrive carries the same id; the NUL separator keeps ``("a.b", "c")`` from ``("a", "b.c")``.
    """
    key = f"{job_id}\0{event_type}" + (f"\0{done}" if done is not None else "")
    digest = hashlib.sha256(key.encode()).digest()
    return "msg_" + base64.b32encode(digest[:20]).decode("ascii").lower()


@dataclass(frozen=True)
class RegistryRef:
    """Which registered model version served a job (``models:/NAME@ALIAS`` or ``/VERSION``)."""

    name: str
    version: str
    alias: str | None = None  # the alias the worker was told to follow; None for a version
    run_id: str | None = None  # the MLflow run that produced the version, when known
    role: str | None = None  # "canary" when MTQ_CANARY sent the job to this version

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "version": self.version,
                                "alias": self.alias, "run_id": self.run_id}
        if self.role is not None:  # additive
            body["role"] = self.role
        return body


@dataclass(frozen=True)
class ModelInfo:
    name: str
    revision: str
    engine: str = "hf"
    compute_type: str = "float32"
    registry: RegistryRef | None = None  # set when the model came from the registry

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "revision": self.revision,
                                "engine": self.engine, "compute_type": self.compute_type}
        if self.registry is not None:  # additive to v1
            body["registry"] = self.registry.to_json()
        return body


@dataclass(frozen=True)
class JobStats:
    segments: int
    queue_ms: int
    compute_ms: int
    cached_segments: int = 0  # answered from the translation cache (additive to v1)

    def to_json(self) -> dict[str, Any]:
        return {"segments": self.segments, "queue_ms": self.queue_ms,
                "compute_ms": self.compute_ms, "cached_segments": self.cached_segments}


@dataclass(frozen=True)
class CompletedEvent:
    """Every segment translated, in order."""

    job: Job
    translations: tuple[str, ...]
    model: ModelInfo
    stats: JobStats
    # One per translation, in [0, 1] (mtq/core/vouch/confidence.py); 1.0 for blank segments.
    confidence: tuple[float, ...]
    # Per-segment notes: markup restoration, terminology (``term_missing``) and the output
    # guards (``truncated``, ``repetition``, …: mtq/core/vouch); always reported.
    warnings: tuple[SegmentWarning, ...] = ()
    # The terminology report, one per translation (jobs with terminology options only).
    terms: tuple[SegmentTerms, ...] = ()

    def __post_init__(self) -> None:
        # Frozen: normalise a list to a tuple through object.__setattr__.
        object.__setattr__(self, "translations", tuple(self.translations))
        object.__setattr__(self, "confidence", tuple(self.confidence))
        if len(self.translations) != len(self.job.segments):
            raise ValueError(
                f"job {self.job.job_id}: {len(self.translations)} translations for "
                f"{len(self.job.segments)} segments"
            )
        if len(self.confidence) != len(self.translations):
            raise ValueError(f"job {self.job.job_id}: {len(self.confidence)} confidence values "
                             f"for {len(self.translations)} translations")

    @property
    def type(self) -> str:
        return EVENT_COMPLETED

    @property
    def job_id(self) -> str:
        return self.job.job_id

    @property
    def tenant(self) -> str | None:
        return self.job.tenant

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": EVENT_COMPLETED,
            "job_id": self.job.job_id,
            "source_lang": self.job.source_lang,
            "target_lang": self.job.target_lang,
            "translations": list(self.translations),
            "confidence": list(self.confidence),  # additive to v1, always (docs/vouch.md)
            "warnings": [w.to_json() for w in self.warnings],
            "model": self.model.to_json(),
            "metadata": self.job.metadata,
            "stats": self.stats.to_json(),
            **({"tenant": self.job.tenant} if self.job.tenant is not None else {}),
        }
        if self.job.terms.requested:
            self._add_terms(body)
        return body

    def _add_terms(self, body: dict[str, Any]) -> None:
        """``terms`` per translation, ``stats.terms`` and the stored glossary used."""
        report = self.terms or tuple(SegmentTerms(()) for _ in self.translations)
        body["terms"] = [[r.to_json() for r in segment.results] for segment in report]
        body["stats"]["terms"] = {"matched": sum(s.matched for s in report),
                                  "honoured": sum(s.honoured for s in report)}
        stored = self.job.terms.stored
        if stored is not None:
            body["glossary"] = stored.to_json()


@dataclass(frozen=True)
class FailedEvent:
    """The job as a whole did not translate; ``code`` is one of the documented values."""

    job_id: str
    code: ErrorCode
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)
    tenant: str | None = None

    @classmethod
    def for_job(cls, job: Job, code: ErrorCode, message: str) -> FailedEvent:
        """The failure of an admitted job: its metadata and tenant are echoed."""
        return cls(job.job_id, code, message, job.metadata, job.tenant)

    def __post_init__(self) -> None:
        if not isinstance(self.code, ErrorCode):
            raise ValueError(f"job {self.job_id}: {self.code!r} is not an ErrorCode")

    @property
    def type(self) -> str:
        return EVENT_FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            "type": EVENT_FAILED,
            "job_id": self.job_id,
            "error": {"code": self.code.value, "message": self.message},
            "metadata": self.metadata or {},
            **({"tenant": self.tenant} if self.tenant is not None else {}),
        }


@dataclass(frozen=True)
class CancelledEvent:
    """Cancelled first: ``translations[i]`` is ``None`` where segment ``i`` was dropped."""

    job: Job
    translations: tuple[str | None, ...]
    model: ModelInfo
    stats: JobStats
    warnings: tuple[SegmentWarning, ...] = ()  # of the finished segments (markup, terms)
    type = EVENT_CANCELLED

    @property
    def job_id(self) -> str:
        return self.job.job_id

    @property
    def tenant(self) -> str | None:
        return self.job.tenant

    @property
    def done(self) -> int:
        return sum(t is not None for t in self.translations)

    def to_json(self) -> dict[str, Any]:
        job = self.job
        body: dict[str, Any] = {
            "type": EVENT_CANCELLED, "job_id": job.job_id, "source_lang": job.source_lang,
            "target_lang": job.target_lang, "translations": list(self.translations),
            "done": self.done, "total": len(job.segments), "model": self.model.to_json(),
            "metadata": job.metadata, "stats": self.stats.to_json(),
            **({"tenant": job.tenant} if job.tenant is not None else {}),
        }
        if job.markup.active or job.terms.requested:
            body["warnings"] = [w.to_json() for w in self.warnings]
        return body


@dataclass(frozen=True)
class ProgressEvent:
    """Not final: ``done`` of the job's segments have a translation (throttled by the worker)."""

    job: Job
    done: int
    type = EVENT_PROGRESS

    @property
    def job_id(self) -> str:
        return self.job.job_id

    @property
    def tenant(self) -> str | None:
        return self.job.tenant

    def to_json(self) -> dict[str, Any]:
        job = self.job
        return {"type": EVENT_PROGRESS, "job_id": job.job_id, "done": self.done,
                "total": len(job.segments), "metadata": job.metadata,
                **({"tenant": job.tenant} if job.tenant is not None else {})}


ResultEvent = CompletedEvent | FailedEvent | CancelledEvent | ProgressEvent


@dataclass(frozen=True)
class OutgoingResult:
    """One result message as published: the signed body, its headers and its webhook id."""

    body: bytes
    headers: dict[str, str]
    webhook_id: str


def encode_json(value: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and POSTed; computed once, carried unchanged."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def result_headers(
    job_id: str, event_type: str, callback_url: str, tenant: str | None = None,
    done: int | None = None,
) -> dict[str, str]:
    """Headers the worker sets on a result message (the message_id must be the webhook id)."""
    headers = {
        CALLBACK_HEADER: callback_url,
        JOB_ID_HEADER: job_id,
        EVENT_TYPE_HEADER: event_type,
        WEBHOOK_ID_HEADER: webhook_id(job_id, event_type, done),
    }
    if tenant:
        headers[TENANT_HEADER] = tenant
    if done is not None:
        headers[DONE_HEADER] = str(done)
    return headers


def encode_result(event: ResultEvent, callback_url: str) -> OutgoingResult:
    """The message the worker publishes on ``mtq.results`` for ``event``."""
    done = event.done if isinstance(event, ProgressEvent) else None
    headers = result_headers(event.job_id, event.type, callback_url, event.tenant, done)
    if isinstance(event, ProgressEvent) and not event.job.progress:  # for the gateway only
        headers[DELIVER_HEADER] = "false"
    return OutgoingResult(body=encode_json(event.to_json()), headers=headers,
                          webhook_id=headers[WEBHOOK_ID_HEADER])
