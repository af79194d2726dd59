"""The profiler's selected rows name functions that exist (a rename would drop a row silently)."""

from __future__ import annotations

import importlib

import pytest

from bench.profiling import SELECTED_FUNCTIONS


@pytest.mark.parametrize(("module", "qualname"), SELECTED_FUNCTIONS)
def test_selected_function_exists(module: str, qualname: str) -> None:
    owner: object = importlib.import_module(module)
    for part in qualname.split("."):
        owner = getattr(owner, part)
    assert callable(owner)
