"""The worker's engine loader: registry URIs through the version store, the rest as before.

``RegistryLoader(load_engine)`` is a drop-in for ``load_engine``: a ``models:/`` reference is
resolved (an alias to its version now), fetched into the store, and loaded from the local
folder through the same ``from_pretrained`` path; the engine's ``model`` block then names the
registered model and carries ``registry`` (name, version, alias, run id). Every other
reference goes to ``load_engine`` unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from mtq.core.errors import ConfigError
from mtq.core.events import RegistryRef
from mtq.core.settings import Settings
from worker.engines.base import Engine
from worker.registry.client import Registry, RegistryError, Version
from worker.registry.store import VersionStore, default_cache
from worker.registry.uri import is_registry_uri, parse_registry_uri


class RegistryLoader:
    """Load engines from hub ids, folders and ``models:/`` URIs alike."""

    def __init__(
        self, load: Callable[[Settings], Engine], *, cache: str = "",
        tracking_uri: str | None = None,
    ) -> None:
        self._load = load
        self._cache = Path(cache) if cache else default_cache()
        self._tracking_uri = tracking_uri
        self._store: VersionStore | None = None  # MLflow imported only when a URI needs it

    @property
    def store(self) -> VersionStore:
        if self._store is None:
            self._store = VersionStore(Registry(self._tracking_uri), self._cache)
        return self._store

    def __call__(self, settings: Settings) -> Engine:
        if not is_registry_uri(settings.model):
            return self._load(settings)
        uri = parse_registry_uri(settings.model)
        try:
            version = self.store.registry.resolve(uri)
        except RegistryError as exc:
            raise ConfigError(f"cannot resolve {settings.model}: {exc}") from exc
        return self.load_version(settings, version)

    def resolve(self, reference: str) -> Version:
        """Where ``reference`` (a registry URI) points now; RegistryError when unknown."""
        return self.store.registry.resolve(parse_registry_uri(reference))

    def load_version(self, settings: Settings, version: Version) -> Engine:
        """An engine for one registry version, stamped with where it came from."""
        try:
            folder = (self.store.ct2(version) if settings.engine == "ctranslate2"
                      else self.store.hf(version))
        except RegistryError as exc:
            raise ConfigError(str(exc)) from exc
        engine = self._load(settings.replace(model=str(folder)))
        engine.info = dataclasses.replace(
            engine.info, name=version.name,
            registry=RegistryRef(version.name, version.version, version.alias, version.run_id),
        )
        return engine
