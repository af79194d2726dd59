"""Fixtures for the confidence and guard tests: the tiny model on both engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtq.tools.convert import convert_model
from worker.engines.ct2 import CTranslate2Engine


@pytest.fixture(scope="session")
def vouch_ct2_path(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model converted with ``mtq convert`` (weights kept in float32)."""
    destination = tmp_path_factory.mktemp("vouch-ct2") / "tiny-ct2"
    convert_model(tiny_model_path, destination)
    return destination


def ct2_engine_for(path: Path, compute_type: str = "float32") -> CTranslate2Engine:
    return CTranslate2Engine.from_folder(
        path, compute_type=compute_type, inter_threads=1, intra_threads=1, device="cpu"
    )
