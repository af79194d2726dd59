"""The one module that talks to MLflow: resolve a registry URI, download a version.

MLflow reads ``MLFLOW_TRACKING_URI`` (and its credentials variables) itself; mtq passes no
tracking URI of its own unless a test hands one in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtq.core.errors import ConfigError
from worker.registry.uri import RegistryURI


@dataclass(frozen=True)
class Version:
    """One registered model version, as the registry resolved a URI."""

    name: str
    version: str
    alias: str | None  # the alias that was followed, None for a fixed version
    run_id: str | None


class RegistryError(Exception):
    """The registry could not answer (unreachable, unknown name, alias or version)."""


class Registry:
    """An MLflow model registry (``MlflowClient``), behind two calls."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        try:
            from mlflow import MlflowClient
        except ImportError as exc:
            raise ConfigError(
                f"models:/ references need MLflow ({exc}); install it with "
                "pip install 'mtq[registry]'"
            ) from exc
        self._tracking_uri = tracking_uri
        self._client: Any = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def resolve(self, uri: RegistryURI) -> Version:
        """The version ``uri`` names now (an alias is looked up on every call)."""
        try:
            if uri.alias is not None:
                found = self._client.get_model_version_by_alias(uri.name, uri.alias)
            else:
                found = self._client.get_model_version(uri.name, uri.version)
        except Exception as exc:  # MlflowException, or the HTTP client's own errors
            raise RegistryError(f"{uri}: {exc}") from exc
        return Version(uri.name, str(found.version), uri.alias, found.run_id or None)

    def download(self, version: Version, destination: Path) -> Path:
        """Every artifact of ``version`` under ``destination`` (created); the local root."""
        import mlflow.artifacts

        destination.mkdir(parents=True, exist_ok=True)
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{version.name}/{version.version}",
                dst_path=str(destination), tracking_uri=self._tracking_uri,
            )
        except Exception as exc:
            raise RegistryError(
                f"models:/{version.name}/{version.version}: download failed: {exc}"
            ) from exc
        return Path(local)
