"""The engines' CPU threading as Prometheus metrics, read at scrape time (so once warm-up has
measured, they show the choice): ``register_engine_metrics(registry, engines)``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.engines.cpu.tuning import Tuning


class EngineThreadingCollector(Collector):
    """One sample per model, named as the result's ``model.name``, for each metric."""

    def __init__(self, engines: Iterable[object]) -> None:
        self._engines = list(engines)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        how = GaugeMetricFamily(
            "mtq_engine_threads", "CPU threading in use (intra-op threads per replica, "
            "replicas) and how it was chosen", labels=["model", "how", "intra_threads", "replicas"],
        )
        intra = GaugeMetricFamily(
            "mtq_engine_intra_threads", "Intra-op threads per replica", labels=["model"]
        )
        replicas = GaugeMetricFamily(
            "mtq_engine_replicas", "Model replicas (CTranslate2)", labels=["model"]
        )
        spent = GaugeMetricFamily(
            "mtq_engine_thread_tuning_seconds", "Time spent measuring the threading at start",
            labels=["model"],
        )
        probe = GaugeMetricFamily(
            "mtq_engine_thread_probe_seconds",
            "Best time of the start-up probe batch under each measured configuration",
            labels=["model", "intra_threads", "replicas"],
        )
        for engine in self._engines:
            tuning = getattr(engine, "threading", None)
            if not isinstance(tuning, Tuning):
                continue
            model = str(getattr(getattr(engine, "info", None), "name", ""))
            chosen = tuning.chosen
            how.add_metric([model, tuning.how, str(chosen.intra), str(chosen.replicas)], 1)
            intra.add_metric([model], chosen.intra)
            replicas.add_metric([model], chosen.replicas)
            spent.add_metric([model], tuning.spent_s)
            for trial in tuning.trials:
                threads = trial.threads
                probe.add_metric([model, str(threads.intra), str(threads.replicas)], trial.seconds)
        yield from (how, intra, replicas, spent, probe)


def register_engine_metrics(registry: CollectorRegistry, engines: Iterable[object]) -> None:
    """Export each engine's ``threading`` by model name (engines without one export nothing)."""
    registry.register(EngineThreadingCollector(engines))
