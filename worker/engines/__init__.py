"""Engines turn token batches into token batches; the only modules that import torch or
CTranslate2 (lazily, when an engine is built).

``base`` holds the :class:`Engine` protocol, ``factory`` picks one from ``MTQ_ENGINE``,
``codec`` the tokenizer work both share, ``hf`` and ``ct2`` one implementation each.
"""

from worker.engines.base import Engine, model_display_name, model_revision
from worker.engines.factory import load_engine

__all__ = ["Engine", "load_engine", "model_display_name", "model_revision"]
