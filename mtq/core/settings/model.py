"""Typed settings, read once from ``MTQ_*`` environment variables at the entry point.

Nothing in mtq reads ``os.environ`` elsewhere: the CLI builds one :class:`Settings` (env first,
then command-line flags override) and passes it down. Every check of a value lives on its field
(a bound, a set of choices, or a validator), so a ``Settings`` that exists is a valid one, and a
wrong value is one line (:class:`ConfigError`) naming the variable, the value and what it takes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from mtq.core.broker_urls import parse_urls
from mtq.core.contract import JobLimits
from mtq.core.languages import LanguageCodes
from mtq.core.model_routes import parse_canary, parse_models
from mtq.core.settings.values import (
    Accepts,
    EnvSource,
    Numbers,
    Words,
    check_networks,
    check_routes,
    checked_by,
    config_error,
    parse_tenant_weights,
)

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


class Settings(BaseSettings):
    """Every knob of mtq. Field ``foo_bar`` is read from ``MTQ_FOO_BAR``.

    ``Settings(...)`` reads no environment (only its arguments and the defaults); the entry
    point calls :meth:`from_env`. Every way of building one validates and raises ConfigError.
    """

    # Unknown MTQ_* variables are ignored (the env source reads only fields); an unknown
    # keyword in code is an error, as it was for the dataclass.
    model_config = SettingsConfigDict(env_prefix="MTQ_", frozen=True, extra="forbid")

    # Broker and models.
    amqp_url: Annotated[str, checked_by(parse_urls)] = Field(
        DEFAULT_AMQP_URL, description="RabbitMQ URL; for a cluster, one URL per node "
        "separated by spaces or commas, tried in a shuffled order")
    model: str = Field("", description="HF model id or local directory (the worker needs it "
                       "or MTQ_MODELS)")
    model_revision: str = Field("", description="overrides the revision reported in results")
    registry_cache: str = Field("", description="folder where models:/ versions from the "
                                "MLflow registry are downloaded and converted, one folder per "
                                "name and version (empty: ~/.cache/mtq/registry)")
    registry_poll_s: Annotated[float, Accepts("0 (never) or more seconds")] = Field(
        30.0, ge=0, description="how often the worker checks where each models:/NAME@ALIAS "
        "it serves points (0: never; the version found at start keeps serving)")
    canary: Annotated[str, checked_by(parse_canary)] = Field(
        "", description="models:/NAME@ALIAS:SHARE: that share of jobs (by a hash of job_id) "
        "on the routes of models:/NAME… goes to the challenger alias, stamped role canary "
        "(empty: none)")
    shadow: Annotated[str, checked_by(parse_canary)] = Field(
        "", description="models:/NAME@ALIAS:SHARE: that share of the jobs answered on "
        "models:/NAME… is translated again by the challenger when the worker is idle, the "
        "results dropped, agreement exported as mtq_shadow_* metrics (empty: none)")
    routes: Annotated[Words, checked_by(check_routes)] = Field(
        ("en-de",), description="language pairs this worker serves ('en-de', 'en-pt_BR')")
    models: Annotated[Words, checked_by(parse_models)] = Field(
        (), description="several models on one worker (mtq/core/model_routes.py): "
        "'en-de=MODEL *=MODEL', where '*' serves the routes of MTQ_ROUTES")
    language_codes: Annotated[Words, checked_by(LanguageCodes.parse)] = Field(
        (), description="multilingual models (mtq/core/languages.py): tags the built-in table "
        "lacks, 'tag=model_token' ('pt_BR=por_Latn')")
    engine: Literal["hf", "ctranslate2"] = Field(
        "hf", description="inference engine: transformers or CTranslate2")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where the model runs")
    dtype: str = Field("auto", description="HF engine: 'auto' is bf16 (or fp16) on CUDA, "
                       "fp32 on CPU")
    compute_type: str = Field("auto", description="CTranslate2 compute type (int8, float16, …)")
    # Thread counts are checked by worker/engines/cpu/threads.py, where their meaning lives.
    inter_threads: int = Field(0, description="CTranslate2 replicas (0: measured at start "
                               "on CPU, 1 on GPU)")
    intra_threads: int = Field(0, description="CTranslate2 threads per replica (0: measured "
                               "at start on CPU)")
    # Webhooks (the dispatcher).
    webhook_secret: Words = Field((), description="whsec_… signing secrets (the dispatcher "
                                  "needs one); the first signs, all are listed")
    webhook_allow_networks: Annotated[Words, checked_by(check_networks)] = Field(
        (), description="CIDRs exempt from the private-address block of callbacks")
    webhook_allow_ports: Numbers = Field((80, 443), description="callback ports allowed")
    metrics_port: Annotated[int | None, Accepts("a TCP port (1-65535), or 0 for none")] = Field(
        None, ge=0, le=65535, description="port of /metrics, /healthz and /readyz; 0 turns the "
        "server off; unset: the process's own (worker 9000, dispatcher 9001, mtq/core/health.py)"
        ", so both come up side by side on one host")
    # Consumer and scheduler: the bulk lane's window (worker/batching/intake_window.py).
    prefetch: int = Field(16, ge=1, description="the bulk lane's starting window (unacked "
                          "jobs per consumer), its whole window when MTQ_INTAKE_SEGMENTS=0")
    intake_segments: Annotated[int, Accepts("0 (a fixed window) or more")] = Field(
        1024, ge=0, description="segments a worker keeps in flight: the bulk window (between "
        "2 and MTQ_PREFETCH_MAX jobs) is sized from it; 0 keeps the window at MTQ_PREFETCH")
    prefetch_max: int = Field(512, ge=1, description="the most bulk jobs one worker holds "
                              "unacked")
    # Lanes and tenants (worker/batching/fairness.py).
    interactive_prefetch: int = Field(32, ge=1, description="unacked jobs per consumer of the "
                                      "interactive lane")
    bulk_every: int = Field(4, ge=1, description="while interactive work waits, one batch in "
                            "every N is anchored on bulk")
    tenant_weights: Annotated[Words, checked_by(parse_tenant_weights)] = Field(
        (), description="fair-share weights 'tenant=weight' ('acme=3 trial=0.5'); others weigh 1")
    batch_tokens: int = Field(8192, ge=1, description="micro-batch budget: segments × longest "
                              "source × beam size")
    max_batch_segments: int = Field(64, ge=1, description="segments per micro-batch at most")
    batch_max_wait_ms: int = Field(20, description="how long a lone job waits for company")
    batch_max_padding: float = Field(0.10, description="past 8 segments, a batch does not "
                                     "grow beyond this share of padding")
    torch_threads: int = Field(0, description="HF engine on CPU: torch threads (0: measured "
                               "at start)")
    thread_tuning_s: float = Field(20.0, description="bound on measuring the CPU threads at "
                                   "start (worker/engines/cpu/tuning.py); 0: rules, no measuring")
    thread_recheck_s: float = Field(600.0, description="torch on CPU: how often the measured "
                                    "threads are checked again on real batches; 0: never")
    drain_timeout_s: float = Field(60.0, description="SIGTERM drain limit")
    result_publish_timeout_s: float = Field(120.0, description="how long a computed result "
                                            "retries its publish before the job is requeued")
    results_per_message: int = Field(64, ge=1, description="result events confirmed together "
                                     "travel in one message of at most this many "
                                     "(mtq/core/result_batch.py); 1: a message per event")
    # Fault tolerance (docs/reliability.md).
    solo_after_deliveries: int = Field(1, description="a job delivered this many times before "
                                       "runs alone (0: never)")
    reconnect_max_delay_s: float = Field(10.0, description="longest wait between broker "
                                         "reconnect attempts")
    consumer_timeout_s: float = Field(1800.0, description="RabbitMQ's consumer_timeout (keep "
                                      "them equal): jobs not started by half of it are handed "
                                      "back before the broker closes the channel")
    # Contract limits: JobLimits' defaults are theirs (mtq/core/contract.py).
    max_job_segments: int = Field(JobLimits.max_job_segments, ge=1, description="segments per job")
    max_job_tokens: int = Field(32768, ge=1, description="source tokens per job, after "
                                "tokenization")
    max_segment_chars: int = Field(JobLimits.max_segment_chars, ge=1, description="characters "
                                   "per segment")
    max_metadata_bytes: int = Field(JobLimits.max_metadata_bytes, description="size of a job's "
                                    "metadata as JSON")
    default_beam_size: int = Field(JobLimits.default_beam_size, description="beam size of a job "
                                   "that gives none")
    max_beam_size: int = Field(JobLimits.max_beam_size, ge=1, description="largest beam size "
                               "a job may ask for")
    default_max_new_tokens: int = Field(JobLimits.default_max_new_tokens, description="output "
                                        "length of a job that gives none")
    max_new_tokens_limit: int = Field(JobLimits.max_new_tokens_limit, ge=1, description="largest "
                                      "output length a job may ask for")
    # Broker topology.
    delivery_limit: int = Field(10, ge=1, description="returns before a job is dead-lettered")
    quorum_initial_group_size: Annotated[
        int, Accepts("0 (the broker's default) or a number of replicas")
    ] = Field(0, ge=0, description="replicas of each new quorum queue (0: the broker's default, "
              "3 or fewer nodes); the same in every process, or the broker refuses the queue")
    # Webhook delivery (webhooks/).
    webhook_timeout_s: float = Field(10.0, description="per-attempt HTTP timeout")
    webhook_connect_timeout_s: float = Field(3.0, description="per-attempt connect timeout")
    webhook_concurrency: int = Field(32, description="deliveries in flight, in total")
    webhook_per_host: int = Field(8, description="ceiling of each receiver host's adaptive "
                                  "window (webhooks/pacing/pace.py)")
    webhook_per_tenant: Annotated[int, Accepts("0 (half of MTQ_WEBHOOK_CONCURRENCY) or more")] = (
        Field(0, ge=0, description="deliveries in flight per tenant "
              "(webhooks/pacing/tenantgates.py; 0: half of MTQ_WEBHOOK_CONCURRENCY); events "
              "without a tenant: per host only"))
    webhook_dns_ttl_s: float = Field(30.0, description="how long a callback host's DNS answer "
                                     "is reused (0: resolved on every try)")
    webhook_quick_retries: int = Field(3, description="in-process retries before the durable "
                                       "ladder")
    webhook_retry_schedule_s: Numbers = Field(
        (10, 60, 300, 1800, 7200, 21600, 43200, 86400),
        description="the durable retry ladder, seconds")
    dispatcher_prefetch: int = Field(64, description="unacked events per dispatcher")
    # Translation cache (docs/cache.md).
    cache: Annotated[str, Accepts("'memory', 'off' or a redis://host:port/db URL")] = Field(
        "memory", pattern=r"^(memory|off)$|^rediss?://", description="memory (in-process LRU), "
        "off, or redis://host:port/db shared by every worker")
    cache_max_mb: int = Field(256, ge=1, description="bound of the memory cache")
    cache_ttl_s: Annotated[int, Accepts("0 (no expiry) or more")] = Field(
        604800, ge=0, description="Redis entries expire after this (0: never)")
    cache_timeout_ms: int = Field(500, ge=1, description="a slower Redis call is an error: the "
                                  "worker goes on without the cache until a probe finds it")
    cache_scope: Literal["shared", "tenant"] = Field(
        "shared", description="one cache for all tenants, or entries per tenant")
    dedup: bool = Field(True, description="identical segments waiting or running at the same "
                        "time (same lane and tenant) are computed once")
    broker_wait_s: Annotated[float, Accepts("0 (exit at the first failure) or more seconds")] = (
        Field(300.0, ge=0, description="how long a worker or dispatcher that starts while the "
              "broker is down keeps trying (not ready meanwhile) before it exits with one line"))
    # Stored glossaries (docs/terminology.md).
    database_url: Annotated[str, Accepts("a postgresql:// URL, or empty for none")] = Field(
        "", pattern=r"^(|postgres(ql)?://.*)$", description="PostgreSQL holding the stored "
        "glossaries (empty: none; jobs naming options.glossary_id are refused)")
    glossary_schema: Annotated[
        str, Accepts("lower-case letters, digits and _ (a PostgreSQL schema name)")
    ] = Field("mtq_terms", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
              description="the PostgreSQL schema of the glossary tables")
    glossary_ttl_s: Annotated[float, Accepts("0 (ask every time) or more")] = Field(
        5.0, ge=0, description="how long a worker uses a glossary before asking whether a "
        "new version was stored")
    # Cancel and progress (README, "Cancel and progress").
    cancel_store: Annotated[str, Accepts("'auto', 'memory' or a redis://host:port/db URL")] = (
        Field("auto", pattern=r"^(auto|memory)$|^rediss?://", description="where workers "
              "remember cancels of jobs not picked up yet: auto (the Redis of MTQ_CACHE when it "
              "is one, else memory), memory (each worker its own) or a redis://host:port/db URL"))
    cancel_ttl_s: int = Field(3600, ge=1, description="how long a cancel is remembered for a "
                              "job that has not arrived yet")
    progress_interval_s: float = Field(1.0, gt=0, description="at least this long between two "
                                       "job.progress events of one job")
    progress_max_events: Annotated[int, Accepts("0 (no progress events) or more")] = Field(
        20, ge=0, description="job.progress events per job at most, each at least 1/(N+1) of "
        "its segments further than the last")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:  # never shown as such: one line about the setting
            raise config_error(exc, values, type(self).model_fields) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments only: the environment is read by from_env, at the entry point, never by a
        # test's or a library's Settings(...).
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``MTQ_*`` variables, then apply non-``None`` overrides."""
        values = EnvSource(cls, os.environ if environ is None else environ)()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A validated copy with ``changes`` applied."""
        return type(self)(**{**dict(self), **changes})

    def tenant_weights_map(self) -> dict[str, float]:
        """``MTQ_TENANT_WEIGHTS`` ("acme=3 beta=0.5") as a mapping."""
        return parse_tenant_weights(self.tenant_weights)

    @field_validator("prefetch_max")
    @classmethod
    def _window_holds_its_start(cls, prefetch_max: int, info: ValidationInfo) -> int:
        # Only a sized window grows from MTQ_PREFETCH towards MTQ_PREFETCH_MAX.
        prefetch = info.data.get("prefetch")  # absent when prefetch itself was wrong
        if info.data.get("intake_segments") and prefetch is not None and prefetch_max < prefetch:
            raise ValueError(f"MTQ_PREFETCH_MAX must be at least MTQ_PREFETCH ({prefetch})")
        return prefetch_max

