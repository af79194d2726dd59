"""The cache's Prometheus counters, registered on the worker's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.hits_total = Counter(
            "mtq_cache_hits_total", "Segments answered from the translation cache",
            registry=registry,
        )
        self.misses_total = Counter(
            "mtq_cache_misses_total",
            "Segments looked up and not found (or not asked: cache unavailable)",
            registry=registry,
        )
        self.errors_total = Counter(
            "mtq_cache_errors_total", "Cache calls that failed or timed out", registry=registry
        )
        self.dedup_saved_total = Counter(
            "mtq_dedup_saved_segments_total",
            "Segments not computed because an identical one was already in flight",
            registry=registry,
        )
