"""Prometheus metrics of the dispatcher. One object per process, on its own registry, passed to
whoever records (like the worker's ``worker/metrics.py``); the probe server serves its registry.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mtq.core.health import DISPATCHER_METRICS_PORT, HealthServer, metrics_port
from mtq.core.settings import Settings
from webhooks.hostmetrics import HostMetrics

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30)


class DispatcherMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.attempts = Counter(
            "mtq_webhook_attempts_total", "HTTP delivery attempts by outcome and status class.",
            ["outcome", "status_class"], registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "mtq_webhook_delivery_seconds", "Duration of one HTTP delivery attempt.",
            ["outcome"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.retries_scheduled = Counter(
            "mtq_webhook_retries_scheduled_total",
            "Events moved to a retry-ladder queue, by ladder step.", ["delay_s"],
            registry=self.registry,
        )
        self.parked = Counter(
            "mtq_webhook_parked_total", "Events moved to mtq.results.parked, by reason.",
            ["reason"], registry=self.registry,
        )
        self.deferred = Counter(
            "mtq_webhook_deferred_total",
            "Events put back on the ladder without spending an attempt: their host was failing "
            "and had no slot for them within the bounds (never for a host answering 2xx).",
            registry=self.registry,
        )
        self.delivered = Counter(
            "mtq_webhook_delivered_total", "Events delivered (2xx) and acked.",
            registry=self.registry,
        )
        self.skipped = Counter(
            "mtq_webhook_skipped_total", "Events acked without a POST: job.progress of jobs "
            "without options.progress (x-mtq-deliver: false), there for the gateway's queue.",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "mtq_webhook_in_flight",
            "Result messages held by this dispatcher (waiting for a slot or being delivered).",
            registry=self.registry,
        )
        self.connections_opened = Counter(
            "mtq_webhook_connections_opened_total",
            "TCP connections opened to receivers (kept alive and reused between webhooks).",
            registry=self.registry,
        )
        self.hosts = HostMetrics(self.registry)


def status_class(status: int | None) -> str:
    """``2xx``..``5xx``, or ``none`` when no response arrived."""
    if status is None or not 100 <= status < 600:
        return "none"
    return f"{status // 100}xx"


def serve_probes(settings: Settings, metrics: DispatcherMetrics, *, alive: Callable[[], bool],
                 ready: Callable[[], bool]) -> HealthServer | None:
    """``/metrics``, ``/healthz`` (``alive``: the event loop turns) and ``/readyz`` (``ready``:
    consuming) on ``MTQ_METRICS_PORT`` (default 9001, beside a worker's 9000; 0: none)."""
    port = metrics_port(settings, DISPATCHER_METRICS_PORT)
    if not port:
        return None
    server = HealthServer(port, metrics.registry, liveness={"event_loop": alive},
                          readiness={"consuming": ready})
    server.start()
    return server
