"""The record ``mtq convert`` leaves in a CTranslate2 model folder, and how the engine reads it.

It says what the folder was made from and what the engine needs that the CTranslate2 files do
not say (the source length limit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mtq.core.errors import ConfigError

CONVERSION_FILE = "mtq-conversion.json"


@dataclass(frozen=True)
class Conversion:
    """What :data:`CONVERSION_FILE` records about a converted folder."""

    source: str
    architecture: str
    quantization: str  # "" when the weights keep the source model's precision
    max_source_tokens: int
    ctranslate2_version: str
    seconds: float

    @classmethod
    def read(cls, folder: Path) -> Conversion | None:
        """The record in ``folder``, or None for a folder ``mtq convert`` did not write."""
        path = folder / CONVERSION_FILE
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{name: raw[name] for name in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: unreadable conversion record ({exc})") from exc
