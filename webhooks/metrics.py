"""Prometheus metrics for webhook delivery, on the default registry (served by the entry point).

These module-level objects are constants (metric definitions); all state lives in their
collectors, which prometheus-client makes thread-safe.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ATTEMPTS = Counter(
    "mtq_webhook_attempts_total",
    "HTTP delivery attempts by outcome and status class.",
    ["outcome", "status_class"],
)
DELIVERY_SECONDS = Histogram(
    "mtq_webhook_delivery_seconds",
    "Duration of one HTTP delivery attempt.",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
RETRIES_SCHEDULED = Counter(
    "mtq_webhook_retries_scheduled_total",
    "Events moved to a retry-ladder queue, by ladder step.",
    ["delay_s"],
)
PARKED = Counter(
    "mtq_webhook_parked_total",
    "Events moved to mtq.results.parked, by reason.",
    ["reason"],
)
DEFERRED = Counter(
    "mtq_webhook_deferred_total",
    "Events deferred to the first ladder step because their host already had a full backlog.",
)
DELIVERED = Counter(
    "mtq_webhook_delivered_total",
    "Events delivered (2xx) and acked.",
)
IN_FLIGHT = Gauge(
    "mtq_webhook_in_flight",
    "Result messages held by this dispatcher (waiting for a slot or being delivered).",
)


def status_class(status: int | None) -> str:
    """``2xx``..``5xx``, or ``none`` when no response arrived."""
    if status is None or not 100 <= status < 600:
        return "none"
    return f"{status // 100}xx"
