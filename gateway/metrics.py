"""The gateway's Prometheus metrics, on a registry of its own (served at ``/metrics``)."""

from __future__ import annotations

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Routes, not raw paths, as labels: job ids must not become label values.
_KNOWN = ("/v1/jobs", "/v1/languages", "/v2/translate", "/v2/languages", "/translate",
          "/languages")


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("mtq_gateway_requests", "HTTP requests answered",
                                ("route", "status"), registry=self.registry)

    def observe(self, request: Request, status: int) -> None:
        path = request.url.path
        route = next((known for known in _KNOWN if path.startswith(known)), "other")
        self.requests.labels(route, str(status)).inc()

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
