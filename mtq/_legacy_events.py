"""Thin re-exports of the result contract's old names (removed once nobody uses them)."""

from __future__ import annotations

from typing import Any

from mtq.contract import ErrorCode, Job
from mtq.events import (
    EVENT_COMPLETED,
    EVENT_FAILED,
    CompletedEvent,
    FailedEvent,
    JobStats,
    ModelInfo,
    encode_json,
)

__all__ = ["EVENT_COMPLETED", "EVENT_FAILED", "JobStats", "ModelInfo", "completed_event",
           "encode_event", "failed_event"]


def completed_event(job: Job, translations: list[str], model: ModelInfo,
                    stats: JobStats) -> dict[str, Any]:
    return CompletedEvent(job, tuple(translations), model, stats).to_json()


def failed_event(job_id: str, code: ErrorCode, message: str,
                 metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return FailedEvent(job_id, code, message, metadata or {}).to_json()


def encode_event(event: dict[str, Any]) -> bytes:
    return encode_json(event)
