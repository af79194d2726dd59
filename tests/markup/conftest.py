"""Fixtures for the markup tests: the tiny model under both engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtq.tools.convert import convert_model


@pytest.fixture(scope="session")
def markup_ct2_model(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model converted with ``mtq convert`` (float32 weights)."""
    pytest.importorskip("ctranslate2", reason="needs pip install 'mtq[ctranslate2]'")
    destination = tmp_path_factory.mktemp("markup-ct2") / "tiny-ct2"
    convert_model(tiny_model_path, destination)
    return destination
