"""The MLflow side of evaluation and promotion: which version an alias names, the metrics an
evaluation logged to a version's run, moving an alias.

An evaluation's metrics are logged to the run that produced the version, under
``eval.<testset digest>.<metric>`` (``eval.3f2a9c1b07de.chrF``), so one run holds the scores
of several test sets and ``mtq promote`` compares two versions on the same one. The test
set's file name and sacrebleu's signature go in tags beside them.
"""

from __future__ import annotations

from typing import Any

from mtq.core.errors import ConfigError, MtqError


def metric_key(digest: str, metric: str) -> str:
    return f"eval.{digest}.{metric}"


class Tracking:
    """An MLflow tracking server and its model registry (``MLFLOW_TRACKING_URI``)."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        try:
            from mlflow import MlflowClient
        except ImportError as exc:
            raise ConfigError(f"this command needs MLflow ({exc}); install it with "
                              "pip install 'mtq[registry]'") from exc
        self._client: Any = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def _call(self, what: str, method: str, *args: Any) -> Any:
        try:
            return getattr(self._client, method)(*args)
        except Exception as exc:  # MlflowException, or the HTTP client's own errors
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise MtqError(f"{what}: {message}") from exc

    def run_of(self, name: str, version: str) -> str:
        """The run that produced ``models:/name/version`` (where its metrics are logged)."""
        found = self._call(f"models:/{name}/{version}", "get_model_version", name, version)
        if not found.run_id:
            raise MtqError(f"models:/{name}/{version} was registered without a run, so there "
                           "is no run to log its evaluation to; register versions from a run")
        return str(found.run_id)

    def holder(self, name: str, alias: str) -> str | None:
        """The version ``alias`` points at, or None when the model has no such alias."""
        model = self._call(f"models:/{name}", "get_registered_model", name)
        version = (getattr(model, "aliases", None) or {}).get(alias)
        return str(version) if version is not None else None

    def log(self, run_id: str, digest: str, metrics: dict[str, float],
            tags: dict[str, str]) -> None:
        for metric, value in metrics.items():
            self._call(f"run {run_id}", "log_metric", run_id, metric_key(digest, metric), value)
        for tag, text in tags.items():
            self._call(f"run {run_id}", "set_tag", run_id, metric_key(digest, tag), text)

    def logged(self, run_id: str, digest: str) -> dict[str, float]:
        """The metrics logged for one test set on a run (empty when never evaluated on it)."""
        run = self._call(f"run {run_id}", "get_run", run_id)
        prefix = metric_key(digest, "")
        return {key[len(prefix):]: float(value) for key, value in run.data.metrics.items()
                if key.startswith(prefix)}

    def digests(self, run_id: str, metric: str) -> set[str]:
        """The test sets (digests) a run has ``metric`` for."""
        run = self._call(f"run {run_id}", "get_run", run_id)
        return {key.split(".")[1] for key in run.data.metrics
                if key.startswith("eval.") and key.endswith(f".{metric}")
                and key.count(".") == 2}

    def move_alias(self, name: str, alias: str, version: str) -> None:
        self._call(f"models:/{name}@{alias}", "set_registered_model_alias", name, alias,
                   version)
