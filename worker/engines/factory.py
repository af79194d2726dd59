"""``MTQ_ENGINE`` to an engine: the one place that knows every implementation."""

from __future__ import annotations

from mtq.core.errors import ConfigError
from mtq.core.settings import Settings
from worker.engines.base import Engine
from worker.engines.ct2 import CTranslate2Engine
from worker.engines.hf import HFEngine


def load_engine(settings: Settings) -> Engine:
    if not settings.model:
        raise ConfigError(
            "MTQ_MODEL is not set: give a HuggingFace model id (e.g. Helsinki-NLP/opus-mt-en-de) "
            "or a local directory (build one offline with `mtq tiny-model PATH`)"
        )
    if settings.engine == "ctranslate2":
        return CTranslate2Engine(settings)
    return HFEngine(settings)
