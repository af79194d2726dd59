"""The request and response bodies the OpenAPI schema documents (validation of a job itself is
``mtq.core.contract``'s: these models only give it a shape in the docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.store import JobRow

Status = Literal["queued", "running", "cancelling", "completed", "failed", "cancelled"]


class JobRequest(BaseModel):
    """The job of the AMQP contract; ``callback_url`` is optional and ``tenant`` is the key's."""

    model_config = ConfigDict(extra="forbid")
    job_id: str = Field(examples=["order-1234.part-1"])
    source_lang: str = Field(examples=["en"])
    target_lang: str = Field(examples=["de"])
    segments: list[str] = Field(examples=[["Hello world.", "How are you?"]])
    callback_url: str | None = Field(None, description="webhooks as for AMQP jobs; leave it "
                                     "out to read the result from GET /v1/jobs/{job_id} only")
    options: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class JobStatus(BaseModel):
    job_id: str
    tenant: str
    status: Status
    source_lang: str
    target_lang: str
    segments: int
    done: int = Field(description="segments translated so far (from job.progress events)")
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested_at: datetime | None
    event: dict[str, Any] | None = Field(description="the final event (job.completed, "
                                         "job.failed or job.cancelled) once there is one")

    @classmethod
    def of(cls, row: JobRow) -> JobStatus:
        source, _, target = row.route.partition("-")
        return cls(job_id=row.job_id, tenant=row.tenant, status=row.status,  # type: ignore[arg-type]
                   source_lang=source, target_lang=target, segments=row.segments,
                   done=row.done, created_at=row.created_at, updated_at=row.updated_at,
                   started_at=row.started_at, finished_at=row.finished_at,
                   cancel_requested_at=row.cancel_requested_at, event=row.final_event)


class Pair(BaseModel):
    source_lang: str
    target_lang: str


class Languages(BaseModel):
    pairs: list[Pair]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class DeeplError(BaseModel):
    message: str


class DeeplText(BaseModel):
    detected_source_language: str
    text: str
    billed_characters: int = Field(description="characters of the source text")


class DeeplTranslations(BaseModel):
    translations: list[DeeplText]


class DeeplLanguage(BaseModel):
    language: str
    name: str
    supports_formality: bool | None = None


class LibreError(BaseModel):
    error: str


class LibreTranslation(BaseModel):
    translatedText: str | list[str]


class LibreLanguage(BaseModel):
    code: str
    name: str
    targets: list[str]
