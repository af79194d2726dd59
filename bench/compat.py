"""Stand-ins that let ``bench.gpu`` run where only torch and transformers are installed.

A bare GPU machine has no ``pydantic`` or ``prometheus_client``. The GPU benchmark never
parses a job or serves metrics, but ``worker.batching.scheduler`` and ``worker.engines`` import
``mtq.core.contract`` (pydantic, for job validation) and ``worker.compute.inference`` imports
``worker.metrics`` (prometheus_client). When, and only when, one of them is missing, a minimal
module takes its place so those imports succeed; anything that would really need it (parsing
a job) raises. The real packages are always preferred.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any


def install_fallbacks() -> list[str]:
    """Register stand-ins for missing optional imports; returns a note per stand-in."""
    notes = []
    if importlib.util.find_spec("pydantic") is None:
        sys.modules["pydantic"] = _pydantic()
        notes.append("pydantic missing: a stand-in is used (job validation unavailable)")
    if importlib.util.find_spec("prometheus_client") is None:
        sys.modules["prometheus_client"] = _prometheus_client()
        notes.append("prometheus_client missing: worker metrics are no-ops")
    return notes


def _pydantic() -> types.ModuleType:
    module = types.ModuleType("pydantic", "bench.compat stand-in: pydantic is not installed")

    class BaseModel:
        @classmethod
        def model_validate(cls, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("pydantic is not installed; jobs cannot be validated here")

    class ValidationError(ValueError):
        pass

    def config_dict(**kwargs: Any) -> dict[str, Any]:
        return dict(kwargs)

    def field(*args: Any, **kwargs: Any) -> Any:
        return None

    module.BaseModel = BaseModel  # type: ignore[attr-defined]
    module.ValidationError = ValidationError  # type: ignore[attr-defined]
    module.ConfigDict = config_dict  # type: ignore[attr-defined]
    module.Field = field  # type: ignore[attr-defined]
    return module


def _prometheus_client() -> types.ModuleType:
    module = types.ModuleType("prometheus_client", "bench.compat stand-in: no-op metrics")

    class Metric:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def labels(self, *args: Any, **kwargs: Any) -> Metric:
            return self

        def inc(self, amount: float = 1) -> None:
            pass

        def dec(self, amount: float = 1) -> None:
            pass

        def set(self, value: float) -> None:
            pass

        def observe(self, value: float) -> None:
            pass

    class CollectorRegistry:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

    module.Counter = Metric  # type: ignore[attr-defined]
    module.Gauge = Metric  # type: ignore[attr-defined]
    module.Histogram = Metric  # type: ignore[attr-defined]
    module.Summary = Metric  # type: ignore[attr-defined]
    module.CollectorRegistry = CollectorRegistry  # type: ignore[attr-defined]
    module.REGISTRY = CollectorRegistry()  # type: ignore[attr-defined]
    return module
