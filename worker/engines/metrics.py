"""The engine's threading as Prometheus metrics, read at scrape time (so after warm-up's
measuring they show the choice): ``register_engine_metrics(registry, engine)``."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.engines.tuning import Tuning


class EngineThreadingCollector(Collector):
    def __init__(self, engine: object) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        tuning = getattr(self._engine, "threading", None)
        if not isinstance(tuning, Tuning):
            return
        how = GaugeMetricFamily(
            "mtq_engine_threads", "CPU threading in use (intra-op threads per replica, replicas),"
            " and how it was chosen", labels=["how", "intra_threads", "replicas"],
        )
        how.add_metric([tuning.how, str(tuning.chosen.intra), str(tuning.chosen.replicas)], 1)
        yield how
        intra = GaugeMetricFamily("mtq_engine_intra_threads", "Intra-op threads per replica")
        intra.add_metric([], tuning.chosen.intra)
        yield intra
        replicas = GaugeMetricFamily("mtq_engine_replicas", "Model replicas (CTranslate2)")
        replicas.add_metric([], tuning.chosen.replicas)
        yield replicas
        spent = GaugeMetricFamily(
            "mtq_engine_thread_tuning_seconds", "Time spent measuring the threading at start"
        )
        spent.add_metric([], tuning.spent_s)
        yield spent
        probe = GaugeMetricFamily(
            "mtq_engine_thread_probe_seconds",
            "Best time of the start-up probe batch under each measured configuration",
            labels=["intra_threads", "replicas"],
        )
        for trial in tuning.trials:
            probe.add_metric([str(trial.threads.intra), str(trial.threads.replicas)], trial.seconds)
        yield probe


def register_engine_metrics(registry: CollectorRegistry, engine: object) -> None:
    """Export ``engine.threading`` (engines without one export nothing)."""
    registry.register(EngineThreadingCollector(engine))
