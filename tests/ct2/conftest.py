"""Fixtures for the CTranslate2 engine tests: the tiny model, converted once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtq.tools.convert import convert_model
from worker.engines.ct2 import CTranslate2Engine


@pytest.fixture(scope="session")
def ct2_model_path(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model converted with ``mtq convert`` (weights kept in float32)."""
    pytest.importorskip("ctranslate2", reason="needs pip install 'mtq[ctranslate2]'")
    destination = tmp_path_factory.mktemp("ct2") / "tiny-ct2"
    convert_model(tiny_model_path, destination)
    return destination


@pytest.fixture(scope="session")
def ct2_engine(ct2_model_path: Path) -> CTranslate2Engine:
    """float32, one replica, one thread: exact and light on a shared CI machine."""
    return CTranslate2Engine.from_folder(
        ct2_model_path, compute_type="float32", inter_threads=1, intra_threads=1, device="cpu"
    )
