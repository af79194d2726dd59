"""Public contract v1, the way in: the job message (the events out are in mtq.core.events).

Validation happens here, at the edge, once. Everything past this module works with the typed
:class:`Job` and never sees raw JSON.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import unicodedata
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mtq.core.errors import PermanentError
from mtq.core.languages import LANGUAGE_TAG_PATTERN, MAX_TAG_CHARS
from mtq.core.markup import MarkupOptions, markup_options, options_problem
from mtq.core.terms.options import TermModel, TermOptions, terms_of, terms_problem_of
from mtq.core.vouch.options import SuspectOptions, suspect_options, suspect_problem

JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Who a job is for (fair shares between tenants, worker/batching/fairness.py); echoed in events.
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Unicode's controls (Cc: U+0000-U+001F, U+007F-U+009F) but tab, LF, CR; one regex for speed.
FORBIDDEN_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class ErrorCode(str, Enum):
    """The documented ``error.code`` values of ``job.failed``."""

    INVALID_JOB = "invalid_job"
    JOB_TOO_LARGE = "job_too_large"
    UNSUPPORTED_LANGUAGE_PAIR = "unsupported_language_pair"
    SEGMENT_FAILED = "segment_failed"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class JobLimits:
    """The contract's limits. These defaults are also the defaults of the ``MTQ_*`` settings."""

    max_job_segments: int = 512
    max_segment_chars: int = 2000
    max_metadata_bytes: int = 16384
    default_beam_size: int = 4
    max_beam_size: int = 8
    default_max_new_tokens: int = 256
    max_new_tokens_limit: int = 512

    @classmethod
    def from_settings(cls, settings: object) -> JobLimits:
        """The limits of a :class:`~mtq.core.settings.Settings` (any object with these fields)."""
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class DecodeOptions:
    """Decoding options after defaults and limits are applied. Batches group by these."""

    beam_size: int
    max_new_tokens: int
    # Set by retries only (core/vouch/retry.py); ``retry`` keeps them out of ordinary batches.
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    retry: bool = False


@dataclass(frozen=True)
class Job:
    job_id: str
    source_lang: str
    target_lang: str
    segments: tuple[str, ...]
    callback_url: str
    options: DecodeOptions
    metadata: dict[str, Any] = field(default_factory=dict)
    tenant: str | None = None
    markup: MarkupOptions = field(default_factory=MarkupOptions)  # options.markup, .placeholders
    terms: TermOptions = field(default_factory=TermOptions)  # options.glossary, … (core/terms)
    progress: bool = False  # options.progress: job.progress events are delivered as webhooks
    vouch: SuspectOptions = field(default_factory=SuspectOptions)  # min_confidence, on_suspect

    @property
    def route(self) -> str:
        return f"{self.source_lang}-{self.target_lang}"


class NotAJob(PermanentError):
    """The body cannot be read as a job at all, or names no usable callback: dead-letter it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidJob(PermanentError):
    """A job with a usable ``callback_url`` that breaks the contract: answer with job.failed."""

    def __init__(
        self, code: ErrorCode, message: str, *, job_id: str, callback_url: str,
        metadata: dict[str, Any] | None = None, tenant: str | None = None,
    ) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code, self.message, self.job_id = code, message, job_id
        self.callback_url, self.metadata, self.tenant = callback_url, metadata or {}, tenant

    @classmethod
    def for_job(cls, job: Job, code: ErrorCode, message: str) -> InvalidJob:
        """A parsed job refused after parsing (size, language pair): its fields are echoed."""
        return cls(code, message, job_id=job.job_id, callback_url=job.callback_url,
                   metadata=job.metadata, tenant=job.tenant)


class _OptionsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    beam_size: int | None = None
    max_new_tokens: int | None = None
    markup: str | None = None
    placeholders: list[str] | None = Field(default=None, max_length=8)
    glossary: list[TermModel] | None = None
    glossary_id: str | None = None
    do_not_translate: list[str] | None = None
    terms_case_sensitive: bool | None = None
    terms_method: str | None = None
    progress: bool | None = None  # job.progress webhooks wanted (additive to v1)
    min_confidence: float | None = None  # range checked by suspect_problem (core/vouch)
    on_suspect: str | None = None


class _JobModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    job_id: str = Field(pattern=JOB_ID_PATTERN.pattern)
    source_lang: str = Field(min_length=1, max_length=MAX_TAG_CHARS, pattern=LANGUAGE_TAG_PATTERN)
    target_lang: str = Field(min_length=1, max_length=MAX_TAG_CHARS, pattern=LANGUAGE_TAG_PATTERN)
    segments: list[str] = Field(min_length=1)
    callback_url: str
    options: _OptionsModel = Field(default_factory=_OptionsModel)
    metadata: dict[str, Any] = Field(default_factory=dict)
    tenant: str | None = Field(default=None, pattern=TENANT_PATTERN.pattern)


def callback_problem(url: object) -> str | None:
    """Why ``url`` cannot receive webhooks, or ``None`` when it is a usable http(s) URL.

    Only the form is checked here; whether the destination is allowed is the dispatcher's
    (and the SSRF guard's) decision.
    """
    if not isinstance(url, str) or not url:
        return "callback_url is missing or not a string"
    return _url_problem(url) if len(url) <= 2048 else "callback_url is longer than 2048 characters"


@functools.lru_cache(maxsize=4096)
def _url_problem(url: str) -> str | None:
    # Kept per URL: a client's jobs commonly share one callback, and the answer is the text's.
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"callback_url is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "callback_url must use http or https"
    if not parts.hostname:
        return "callback_url has no host"
    if parts.username is not None or parts.password is not None:
        return "callback_url must not carry credentials; sign requests with the webhook secret"
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        return "callback_url contains whitespace or control characters"
    return None


def parse_job(body: bytes, limits: JobLimits, *, routes: tuple[str, ...] | None = None) -> Job:
    """Validate a job message body.

    Raises :class:`NotAJob` when no ``job.failed`` can be sent (not JSON, not an object, no
    usable ``callback_url`` or ``job_id``), :class:`InvalidJob` otherwise.
    """
    if not body:
        raise NotAJob("empty body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotAJob(f"body is not valid UTF-8 at byte {exc.start}") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise NotAJob(f"body is not JSON: {exc.msg} at {where}") from exc
    if not isinstance(raw, dict):
        raise NotAJob(f"body is JSON {type(raw).__name__}, not an object")
    problem = callback_problem(raw.get("callback_url"))
    if problem is not None:
        raise NotAJob(problem)
    job_id = raw.get("job_id")
    if not isinstance(job_id, str) or not job_id or len(job_id) > 1024:
        raise NotAJob("job_id is missing, not a string, or longer than 1024 characters")
    given = raw.get("metadata")
    metadata: dict[str, Any] = given if isinstance(given, dict) else {}
    if _json_size(metadata) > limits.max_metadata_bytes:
        metadata = {}  # never echo back the very thing that was refused
    tenant = raw.get("tenant")
    if not (isinstance(tenant, str) and TENANT_PATTERN.match(tenant)):
        tenant = None  # an invalid tenant is reported, not echoed

    def fail(code: ErrorCode, message: str) -> InvalidJob:
        return InvalidJob(code, message, job_id=job_id, callback_url=raw["callback_url"],
                          metadata=metadata, tenant=tenant)

    try:
        model = _JobModel.model_validate(raw)
    except ValidationError as exc:
        raise fail(ErrorCode.INVALID_JOB, _describe(exc)) from exc
    _check_limits(model, limits, fail)
    route = f"{model.source_lang}-{model.target_lang}"
    if routes is not None and route not in routes:
        raise fail(
            ErrorCode.UNSUPPORTED_LANGUAGE_PAIR,
            f"{route} is not served here (this queue serves {', '.join(routes)})",
        )
    beam = model.options.beam_size or limits.default_beam_size
    max_new = model.options.max_new_tokens or limits.default_max_new_tokens
    return Job(
        job_id=model.job_id,
        source_lang=model.source_lang, target_lang=model.target_lang,
        segments=tuple(model.segments),
        callback_url=model.callback_url,
        options=DecodeOptions(beam_size=beam, max_new_tokens=max_new),
        metadata=model.metadata,
        markup=markup_options(model.options.markup, model.options.placeholders),
        tenant=model.tenant,
        terms=terms_of(model.options),
        progress=bool(model.options.progress),
        vouch=suspect_options(model.options.min_confidence, model.options.on_suspect),
    )


def _check_limits(model: _JobModel, limits: JobLimits, fail: Any) -> None:
    if len(model.segments) > limits.max_job_segments:
        raise fail(
            ErrorCode.JOB_TOO_LARGE,
            f"{len(model.segments)} segments; the limit is {limits.max_job_segments} per job "
            "(mtq submit splits larger inputs into parts)",
        )
    for index, segment in enumerate(model.segments):
        if len(segment) > limits.max_segment_chars:
            raise fail(
                ErrorCode.JOB_TOO_LARGE,
                f"segments[{index}] has {len(segment)} characters; "
                f"the limit is {limits.max_segment_chars}",
            )
        bad = FORBIDDEN_CONTROL.search(segment)
        if bad is not None:
            raise fail(
                ErrorCode.INVALID_JOB,
                f"segments[{index}] contains control character U+{ord(bad.group()):04X}",
            )
    options = model.options
    if options.beam_size is not None and not 1 <= options.beam_size <= limits.max_beam_size:
        raise fail(ErrorCode.INVALID_JOB,
                   f"options.beam_size must be between 1 and {limits.max_beam_size}")
    if options.max_new_tokens is not None and not (
        1 <= options.max_new_tokens <= limits.max_new_tokens_limit
    ):
        raise fail(ErrorCode.INVALID_JOB,
                   f"options.max_new_tokens must be between 1 and {limits.max_new_tokens_limit}")
    problem = (options_problem(options.markup, options.placeholders)
               or terms_problem_of(options)
               or suspect_problem(options.min_confidence, options.on_suspect))
    if problem is not None:
        raise fail(ErrorCode.INVALID_JOB, problem)
    size = _json_size(model.metadata)
    if size > limits.max_metadata_bytes:
        raise fail(ErrorCode.INVALID_JOB,
                   f"metadata is {size} bytes as JSON; the limit is {limits.max_metadata_bytes}")


def _json_size(value: dict[str, Any]) -> int:
    if not value:  # most jobs carry no metadata: "{}" without the dump
        return 2
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _describe(exc: ValidationError) -> str:
    """One clear line per problem, e.g. ``segments.2: Input should be a valid string``."""
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "body"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field (not part of the job contract)"
        elif error["type"] == "missing":
            message = "required field is missing"
        problems.append(f"{location}: {message}")
    return "; ".join(problems)
