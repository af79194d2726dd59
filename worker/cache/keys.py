"""What a cached translation is keyed on.

Beam search on one model revision, engine, compute type, language pair and decode options is
deterministic, so those fields and the source text name the answer. They are hashed (SHA-256)
into a fixed-size key: the source text never reaches the cache backend, and a key cannot grow
with the text. Anything that changes the output must be part of :class:`CacheScope`; a field
added to it changes every key, which is the safe direction (misses, never stale hits).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from mtq.contract import DecodeOptions, Job
from mtq.events import ModelInfo

# Bump when the meaning of a cached value changes (e.g. post-processing of translations).
KEY_VERSION = "1"
KEY_PREFIX = "mtq:tr:"


@dataclass(frozen=True)
class CacheScope:
    """Everything besides the source text that decides a translation."""

    model: str
    revision: str
    engine: str
    compute_type: str
    source_lang: str
    target_lang: str
    beam_size: int
    max_new_tokens: int
    # Empty: entries are shared by everyone using this deployment (docs/cache.md).
    tenant: str = ""

    @classmethod
    def for_job(cls, info: ModelInfo, job: Job, tenant: str = "") -> CacheScope:
        return cls.of(info, job.source_lang, job.target_lang, job.options, tenant)

    @classmethod
    def of(
        cls, info: ModelInfo, source_lang: str, target_lang: str, options: DecodeOptions,
        tenant: str = "",
    ) -> CacheScope:
        return cls(
            model=info.name, revision=info.revision, engine=info.engine,
            compute_type=info.compute_type, source_lang=source_lang, target_lang=target_lang,
            beam_size=options.beam_size, max_new_tokens=options.max_new_tokens, tenant=tenant,
        )

    def digest(self) -> bytes:
        """The scope's part of every key, computed once per job."""
        fields = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"{KEY_VERSION}\n{fields}".encode()).digest()

    def keys(self, texts: list[str]) -> list[str]:
        """One key per source text, in order."""
        scope = self.digest()
        return [segment_key(scope, text) for text in texts]


def segment_key(scope_digest: bytes, text: str) -> str:
    digest = hashlib.sha256(scope_digest)
    digest.update(text.encode("utf-8"))
    return KEY_PREFIX + digest.hexdigest()
