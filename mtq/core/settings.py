"""Typed settings, read once from ``MTQ_*`` environment variables at the entry point.

Nothing in mtq reads ``os.environ`` elsewhere: the CLI builds one :class:`Settings` (env first,
then command-line flags override) and passes it down.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mtq.core.broker_urls import parse_urls
from mtq.core.contract import JobLimits
from mtq.core.errors import ConfigError
from mtq.core.languages import LanguageCodes, parse_route
from mtq.core.model_routes import parse_models

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item for item in value.replace(",", " ").split() if item)


@dataclass(frozen=True)
class Settings:
    """Every knob of mtq. Field ``foo_bar`` is read from ``MTQ_FOO_BAR``."""

    amqp_url: str = DEFAULT_AMQP_URL
    model: str = ""
    model_revision: str = ""
    routes: tuple[str, ...] = ("en-de",)
    # Several models per worker (mtq/core/model_routes.py): "en-de=MODEL *=MODEL"; and language
    # tag overrides for multilingual models (mtq/core/languages.py): "pt_BR=por_Latn".
    models: tuple[str, ...] = ()
    language_codes: tuple[str, ...] = ()
    engine: str = "hf"
    device: str = "auto"
    dtype: str = "auto"
    # CTranslate2 engine only (docs/engines.md): compute type, replicas, threads per replica
    # (0: measured at start on CPU, see thread_tuning_s).
    compute_type: str = "auto"
    inter_threads: int = 0
    intra_threads: int = 0
    webhook_secret: tuple[str, ...] = ()
    webhook_allow_networks: tuple[str, ...] = ()
    webhook_allow_ports: tuple[int, ...] = (80, 443)
    # None: the process's own default, so a worker and a dispatcher side by side on one host
    # both come up (mtq/core/health.py: worker 9000, dispatcher 9001); 0 turns the server off.
    metrics_port: int | None = None
    # Consumer and scheduler. The bulk lane's window is sized in segments
    # (worker/lifecycle/intake_window.py): about intake_segments in flight, between 2 and
    # prefetch_max jobs, starting at prefetch; intake_segments 0 keeps the window fixed at prefetch.
    prefetch: int = 16
    intake_segments: int = 1024
    prefetch_max: int = 512
    # Lanes and tenants (worker/batching/fairness.py): the interactive lane's own prefetch, one
    # batch in every bulk_every anchored on bulk while it waits, "tenant=weight" fair-share weights.
    interactive_prefetch: int = 32
    bulk_every: int = 4
    tenant_weights: tuple[str, ...] = ()
    batch_tokens: int = 8192
    max_batch_segments: int = 64
    batch_max_wait_ms: int = 20
    batch_max_padding: float = 0.10
    torch_threads: int = 0  # HF engine on CPU; 0: measured at start
    # Bound on measuring the CPU threading at start (worker/engines/cpu/tuning.py); 0: rules.
    thread_tuning_s: float = 20.0
    # torch on CPU: how often the measured choice is re-checked on real batches
    # (worker/engines/cpu/live_check.py); 0: never.
    thread_recheck_s: float = 600.0
    drain_timeout_s: float = 60.0
    result_publish_timeout_s: float = 120.0
    # Result events confirmed together travel in one message of at most this many events
    # (mtq/core/result_batch.py); 1: a message per event, as in v1.
    results_per_message: int = 64
    # Fault tolerance (docs/reliability.md): a job delivered this many times before runs alone
    # (0: never); the longest wait between reconnect attempts.
    solo_after_deliveries: int = 1
    reconnect_max_delay_s: float = 10.0
    # How long a worker or dispatcher that starts while the broker is down keeps trying
    # (not ready meanwhile) before it exits with one line; 0: exit at the first failure.
    broker_wait_s: float = 300.0
    # RabbitMQ's consumer_timeout (keep equal to the broker's): jobs not started by half of it
    # are handed back before the broker closes the channel.
    consumer_timeout_s: float = 1800.0
    # Contract limits.
    max_job_segments: int = JobLimits.max_job_segments
    max_job_tokens: int = 32768  # source tokens per job, after tokenization
    max_segment_chars: int = JobLimits.max_segment_chars
    max_metadata_bytes: int = JobLimits.max_metadata_bytes
    default_beam_size: int = JobLimits.default_beam_size
    max_beam_size: int = JobLimits.max_beam_size
    default_max_new_tokens: int = JobLimits.default_max_new_tokens
    max_new_tokens_limit: int = JobLimits.max_new_tokens_limit
    # Broker topology.
    delivery_limit: int = 10
    # Replicas of each new quorum queue (0: the broker's default, 3 or fewer nodes). Every
    # process must use the same value: RabbitMQ refuses a redeclaration that differs.
    quorum_initial_group_size: int = 0
    # Webhook delivery.
    webhook_timeout_s: float = 10.0
    webhook_connect_timeout_s: float = 3.0
    webhook_concurrency: int = 32
    # The ceiling of each receiver host's adaptive window (webhooks/pace.py).
    webhook_per_host: int = 8
    webhook_dns_ttl_s: float = 30.0
    webhook_quick_retries: int = 3
    webhook_retry_schedule_s: tuple[int, ...] = (10, 60, 300, 1800, 7200, 21600, 43200, 86400)
    dispatcher_prefetch: int = 64
    # Translation cache (docs/cache.md): memory (in-process LRU), off, or redis://host:port/db
    # shared by every worker; shared across tenants or per tenant; in-flight dedup.
    cache: str = "memory"
    cache_max_mb: int = 256
    cache_ttl_s: int = 604800
    cache_timeout_ms: int = 500
    cache_scope: str = "shared"
    dedup: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``MTQ_*`` variables, then apply non-``None`` overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            raw = env.get(f"MTQ_{spec.name.upper()}")
            if raw is not None and raw.strip() != "":
                values[spec.name] = _coerce(spec.name, raw.strip(), spec.default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ConfigError naming the first setting that is wrong, one group at a time."""
        self._validate_broker()
        self._validate_network()
        self._validate_limits()
        self._validate_choices()

    def _validate_broker(self) -> None:
        parse_urls(self.amqp_url)  # one URL, or the nodes of a cluster
        if self.quorum_initial_group_size < 0:
            raise ConfigError("MTQ_QUORUM_INITIAL_GROUP_SIZE must be 0 (the broker's "
                              "default) or a number of replicas")
        for route in self.routes:
            parse_route(route)
        parse_models(self.models)
        LanguageCodes.parse(self.language_codes)

    def _validate_network(self) -> None:
        for cidr in self.webhook_allow_networks:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ConfigError(f"MTQ_WEBHOOK_ALLOW_NETWORKS: {cidr!r} is not a CIDR") from exc
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError("MTQ_METRICS_PORT must be a TCP port (1-65535), or 0 for none")

    def _validate_limits(self) -> None:
        positive = (
            "prefetch", "batch_tokens", "max_batch_segments", "max_job_segments", "max_job_tokens",
            "max_segment_chars", "delivery_limit", "max_beam_size", "max_new_tokens_limit",
            "cache_max_mb", "cache_timeout_ms",
            "prefetch_max", "interactive_prefetch", "bulk_every", "results_per_message",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"MTQ_{name.upper()} must be at least 1")
        if self.intake_segments < 0:
            raise ConfigError("MTQ_INTAKE_SEGMENTS must be 0 (a fixed window) or more")
        if self.intake_segments and self.prefetch_max < self.prefetch:
            raise ConfigError("MTQ_PREFETCH_MAX must be at least MTQ_PREFETCH")
        self.tenant_weights_map()
        if self.cache_ttl_s < 0:
            raise ConfigError("MTQ_CACHE_TTL_S must be 0 (no expiry) or more")

    def _validate_choices(self) -> None:
        if self.cache not in ("memory", "off") and not self.cache.startswith(
            ("redis://", "rediss://")
        ):
            raise ConfigError("MTQ_CACHE must be 'memory', 'off' or a redis://host:port/db URL")
        if self.cache_scope not in ("shared", "tenant"):
            raise ConfigError("MTQ_CACHE_SCOPE must be 'shared' or 'tenant'")
        if self.engine not in ("hf", "ctranslate2"):
            raise ConfigError("MTQ_ENGINE must be 'hf' or 'ctranslate2'")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError("MTQ_DEVICE must be 'auto', 'cpu' or 'cuda'")

    def tenant_weights_map(self) -> dict[str, float]:
        """``MTQ_TENANT_WEIGHTS`` ("acme=3 beta=0.5") as a mapping; ConfigError when malformed."""
        weights: dict[str, float] = {}
        for item in self.tenant_weights:
            tenant, sep, raw = item.partition("=")
            try:
                weight = float(raw) if sep and tenant else 0.0
            except ValueError:
                weight = 0.0
            if weight <= 0:
                raise ConfigError(
                    f"MTQ_TENANT_WEIGHTS: {item!r} must look like 'tenant=2' (a positive weight)"
                )
            weights[tenant] = weight
        return weights

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            return raw.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if default is None:  # the optional ints (metrics_port)
            return int(raw)
        if isinstance(default, tuple):
            items = _split_list(raw)
            if default and isinstance(default[0], int):
                return tuple(int(item) for item in items)
            return items
    except ValueError as exc:
        raise ConfigError(f"MTQ_{name.upper()}={raw!r}: {exc}") from exc
    return raw
