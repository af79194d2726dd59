"""The interface the rest of the worker sees, and the model identity both engines report."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from mtq.core.contract import DecodeOptions
from mtq.core.events import ModelInfo
from mtq.core.vouch import Hypothesis
from worker.engines.languages import LanguagePair, ModelLanguages


class Engine(Protocol):
    """What the scheduler and inference thread need from a model."""

    info: ModelInfo
    max_source_tokens: int
    languages: ModelLanguages  # which pairs it serves, and how (worker/engines/languages.py)

    def encode(self, texts: Sequence[str], pair: LanguagePair = ...) -> list[list[int]]: ...

    def generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions, *,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[list[int]]: ...

    def generate_scored(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions, *,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[Hypothesis]:
        """As ``generate``, with each row's score and whether it ended (mtq/core/vouch)."""
        ...

    def decode(self, outputs: Sequence[Sequence[int]]) -> list[str]: ...

    def warmup(self, options: DecodeOptions) -> None: ...

    def suggest_token_budget(self, configured: int, options: DecodeOptions) -> int: ...

    def is_out_of_memory(self, exc: BaseException) -> bool: ...

    def release_memory(self) -> None: ...


def model_revision(model_ref: str, config: Any, override: str = "") -> str:
    """The hub commit for hub models, else a content hash of the local weights."""
    if override:
        return override
    commit = getattr(config, "_commit_hash", None)
    if commit:
        return str(commit)
    path = Path(model_ref)
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    if not weights:
        return "unknown"
    digest = hashlib.sha256()
    for file in weights:
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()[:16]


def model_display_name(model_ref: str) -> str:
    """A hub id as given; a local directory by its name only (no host paths in webhooks)."""
    path = Path(model_ref)
    return path.name if path.exists() else model_ref
