"""Following an alias: a new version loads and warms beside the old one, then takes over.

Every ``MTQ_REGISTRY_POLL_S`` the worker asks the registry where each ``models:/NAME@ALIAS``
it serves points. When the alias has moved, the new version is fetched, loaded and warmed in
a thread while the old one keeps serving; then :meth:`ModelSet.switch` makes intake admit new
jobs on it. A job keeps the version it was admitted on (the version's key is in its decode
options, and batches form per key), so no job mixes versions; the old engine is freed once no
job in flight holds it. A version that fails to fetch, load or warm leaves the old one
serving: one log line and ``mtq_registry_load_failures_total``; it is not tried again until
the alias moves elsewhere. Rolling back is moving the alias back (the old version's folder is
still in the store, so it loads without a download).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from worker.engines.base import Engine
from worker.engines.model_set import ModelSet
from worker.registry.client import Version
from worker.registry.loader import RegistryLoader
from worker.registry.uri import is_registry_uri, parse_registry_uri

log = logging.getLogger(__name__)


class RolloverMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.switches = Counter("mtq_registry_switches", "Alias moves the worker switched to",
                                ["model"], registry=registry)
        self.failures = Counter("mtq_registry_load_failures", "New versions that failed to "
                                "fetch, load or warm (the old one kept serving)", ["model"],
                                registry=registry)
        self.version = Gauge("mtq_registry_version", "Registry version serving new jobs",
                             ["model"], registry=registry)
        self.switch_seconds = Gauge("mtq_registry_switch_seconds", "Fetch, load and warm-up "
                                    "time of the last switch", ["model"], registry=registry)


class Rollover:
    """Watches the aliases of a model set and switches each to its alias's new versions."""

    def __init__(
        self, settings: Settings, models: ModelSet, loader: RegistryLoader,
        in_use: Callable[[], set[str]], registry: CollectorRegistry,
    ) -> None:
        self._settings = settings
        self._models = models
        self._loader = loader
        self._in_use = in_use
        self.metrics = RolloverMetrics(registry)
        self._refused: dict[str, str] = {}  # reference -> version that failed, not retried
        self._retired: list[str] = []
        self.watched = [ref for ref in models.table.models
                        if is_registry_uri(ref) and parse_registry_uri(ref).alias]
        for challenger in (models.canary, models.shadow):  # challenger aliases are followed too
            if challenger is not None and challenger.reference not in self.watched:
                self.watched.append(challenger.reference)
        for reference in self.watched:
            self.metrics.version.labels(model=reference).set(self._serving(reference))

    def _serving(self, reference: str) -> int:
        info = self._models.current(reference)[1].info
        return int(info.registry.version) if info.registry else 0

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set (nothing to do without an alias or a poll interval)."""
        if not self.watched or not self._settings.registry_poll_s:
            return
        while not stop.is_set():
            await self.check()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.registry_poll_s)

    async def check(self) -> None:
        """One round: switch every moved alias, free the versions no job holds any more."""
        for reference in self.watched:
            await self._check_one(reference)
        self.free_retired()

    async def _check_one(self, reference: str) -> None:
        try:
            version = await asyncio.to_thread(self._loader.resolve, reference)
        except Exception as exc:  # the registry is down: keep serving, ask again later
            log.warning("registry: cannot resolve %s (%s); still serving version %s",
                        reference, exc, self._serving(reference))
            return
        if int(version.version) == self._serving(reference):
            self._refused.pop(reference, None)
            return
        if self._refused.get(reference) == version.version:
            return
        started = time.monotonic()
        try:
            engine = await asyncio.to_thread(self._load_and_warm, reference, version)
        except Exception as exc:
            self._refused[reference] = version.version
            self.metrics.failures.labels(model=reference).inc()
            log.error("registry: %s moved to version %s, which failed to load or warm (%s: "
                      "%s); version %s keeps serving", reference, version.version,
                      type(exc).__name__, exc, self._serving(reference))
            return
        old = self._models.switch(reference, f"{reference}#{version.version}", engine)
        self._retired.append(old)
        seconds = time.monotonic() - started
        self.metrics.switches.labels(model=reference).inc()
        self.metrics.version.labels(model=reference).set(int(version.version))
        self.metrics.switch_seconds.labels(model=reference).set(seconds)
        log.info("registry: %s now serves version %s (loaded and warmed in %.1f s); the old "
                 "version finishes its jobs", reference, version.version, seconds)

    def _load_and_warm(self, reference: str, version: Version) -> Engine:
        settings = self._settings.replace(model=reference, models=())
        engine = self._loader.load_version(settings, version)
        engine.warmup(DecodeOptions(settings.default_beam_size,
                                    settings.default_max_new_tokens))
        return engine

    def free_retired(self) -> None:
        """Free every retired version that no job in flight was admitted on."""
        held = self._in_use()
        for key in [k for k in self._retired if k not in held]:
            self._retired.remove(key)
            if self._models.serves(key):  # the alias came back to it before it was freed
                continue
            self._models.free(key)
            log.info("registry: freed %s", key)
