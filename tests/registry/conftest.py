"""A real MLflow tracking server (one per test module) and a registered model ``tiny-<id>``
with two versions that translate differently:

- version 1: the tiny model (seed 1234) logged with ``mlflow.transformers.log_model``;
- version 2: a tiny model with another seed, a plain HF folder logged with ``log_artifacts``
  and registered from the run's path.

Alias ``champion`` points at version 1 at the start of each test that asks for it.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mtq.tools.tiny_corpus import TinyModelSpec
from mtq.tools.tiny_model import build_tiny_model
from tests.registry.mlflow_server import mlflow_server

pytest.importorskip("mlflow", reason="needs pip install 'mtq[registry]'")


@dataclass(frozen=True)
class Registered:
    url: str
    name: str
    v1_folder: Path
    v2_folder: Path
    run_ids: dict[str, str]

    def move_alias(self, version: str, alias: str = "champion") -> None:
        from mlflow import MlflowClient

        MlflowClient(self.url, self.url).set_registered_model_alias(self.name, alias, version)


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


def _register(url: str, name: str, v1: Path, v2: Path) -> dict[str, str]:
    import mlflow
    from mlflow import MlflowClient
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    mlflow.set_tracking_uri(url)
    model = AutoModelForSeq2SeqLM.from_pretrained(v1)
    tokenizer = AutoTokenizer.from_pretrained(v1)
    runs = {}
    with warnings.catch_warnings():  # the flavor warns about transformers 5's tasks
        warnings.simplefilter("ignore")
        with mlflow.start_run() as run:
            # transformers 5 has no translation pipeline: the flavor is stored under the
            # generic task; mtq reads the folders, not the pipeline.
            mlflow.transformers.log_model(
                {"model": model, "tokenizer": tokenizer}, name="model",
                task="text-generation", pip_requirements=["transformers"],
                registered_model_name=name,
            )
            runs["1"] = run.info.run_id
        with mlflow.start_run() as run:
            mlflow.log_artifacts(str(v2), artifact_path="hf")
            runs["2"] = run.info.run_id
        client = MlflowClient(url, url)
        client.create_model_version(name, source=f"runs:/{runs['2']}/hf", run_id=runs["2"])
    return runs


@pytest.fixture(scope="module")
def registered(
    mlflow_url: str, tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Registered:
    v2 = build_tiny_model(tmp_path_factory.mktemp("tiny-v2"), TinyModelSpec(seed=99))
    name = f"tiny-{uuid.uuid4().hex[:8]}"
    runs = _register(mlflow_url, name, tiny_model_path, v2)
    return Registered(mlflow_url, name, tiny_model_path, v2, runs)


@pytest.fixture
def champion(registered: Registered) -> Registered:
    """The registered model with ``champion`` on version 1."""
    registered.move_alias("1")
    return registered
