"""Per-host pacing metrics with bounded label cardinality.

The first ``MAX_NAMED_HOSTS`` hosts seen get their own ``host`` label; every host after that is
counted under ``host="other"`` (gauges there are sums over those hosts). A named host that goes
idle long enough to be forgotten gives its label back and its series are removed, so the
number of series stays bounded however many receivers there are.
"""

from __future__ import annotations

import contextlib
import threading
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Gauge, Histogram

MAX_NAMED_HOSTS = 20
OTHER = "other"
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class _Series(NamedTuple):
    """One label's children; ``labels()`` costs several times an ``inc()``, and every
    delivery moves these four times."""

    concurrency_limit: Gauge
    in_flight: Gauge
    waiting: Gauge
    latency: Histogram


class HostMetrics:
    def __init__(self, registry: CollectorRegistry, max_named: int = MAX_NAMED_HOSTS) -> None:
        self._max_named = max_named
        self._named: set[str] = set()
        self._series: dict[str, _Series] = {}
        self._lock = threading.Lock()
        self.concurrency_limit = Gauge(
            "mtq_webhook_host_concurrency_limit",
            "Adaptive deliveries-at-once window per receiver host (top hosts, then 'other').",
            ["host"], registry=registry,
        )
        self.in_flight = Gauge(
            "mtq_webhook_host_in_flight", "Deliveries in progress per receiver host.",
            ["host"], registry=registry,
        )
        self.waiting = Gauge(
            "mtq_webhook_host_waiting",
            "Events held unacked in the dispatcher waiting for a slot of their host.",
            ["host"], registry=registry,
        )
        self.latency = Histogram(
            "mtq_webhook_host_latency_seconds", "HTTP answer time per receiver host.",
            ["host"], buckets=_LATENCY_BUCKETS, registry=registry,
        )

    def label_for(self, host: str) -> str:
        with self._lock:
            if host in self._named:
                return host
            if len(self._named) < self._max_named:
                self._named.add(host)
                return host
            return OTHER

    def release(self, host: str) -> None:
        with self._lock:
            if host not in self._named:
                return
            self._named.discard(host)
            self._series.pop(host, None)
        for metric in (self.concurrency_limit, self.in_flight, self.waiting, self.latency):
            with contextlib.suppress(KeyError):  # never recorded
                metric.remove(host)

    def limit(self, label: str, delta: int) -> None:
        if delta:
            self._of(label).concurrency_limit.inc(delta)

    def counts(self, label: str, *, waiting: int = 0, in_flight: int = 0) -> None:
        series = self._of(label)
        if waiting:
            series.waiting.inc(waiting)
        if in_flight:
            series.in_flight.inc(in_flight)

    def observe(self, label: str, latency_s: float) -> None:
        self._of(label).latency.observe(latency_s)

    def _of(self, label: str) -> _Series:
        series = self._series.get(label)
        if series is None:
            with self._lock:
                series = self._series[label] = _Series(
                    self.concurrency_limit.labels(host=label), self.in_flight.labels(host=label),
                    self.waiting.labels(host=label), self.latency.labels(host=label))
        return series
