"""The trained model under both engines, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtq.core.settings import Settings
from mtq.tools.convert import convert_model
from worker.engines.ct2 import CTranslate2Engine
from worker.engines.hf import HFEngine


@pytest.fixture(scope="session")
def trained_hf(trained_model_path: Path) -> HFEngine:
    return HFEngine(Settings(model=str(trained_model_path), device="cpu", torch_threads=1))


@pytest.fixture(scope="session")
def trained_ct2_path(trained_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained model converted with ``mtq convert`` (weights as stored: float16)."""
    destination = tmp_path_factory.mktemp("trained-ct2") / "model"
    convert_model(trained_model_path, destination)
    return destination


@pytest.fixture(scope="session")
def trained_ct2(trained_ct2_path: Path) -> CTranslate2Engine:
    return CTranslate2Engine.from_folder(
        trained_ct2_path, compute_type="float32", inter_threads=1, intra_threads=1,
        device="cpu",
    )
