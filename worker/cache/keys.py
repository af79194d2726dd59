"""What a cached translation is keyed on.

Beam search on one model revision, engine, compute type, language pair and decode options is
deterministic, so those fields and the source text name the answer. They are hashed (SHA-256)
into a fixed-size key: the source text never reaches the cache backend, and a key cannot grow
with the text. Anything that changes the output must be part of :class:`CacheScope`; a field
added to it changes every key, which is the safe direction (misses, never stale hits).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from mtq.core.contract import DecodeOptions, Job
from mtq.core.events import ModelInfo

# Bump when the meaning of a cached value changes (e.g. post-processing of translations).
KEY_VERSION = "1"
KEY_PREFIX = "mtq:tr:"


# Job fields that never change a segment's translation; every other field (language pair,
# decode options, and whatever later issues add) is part of the key, so a new field starts
# out as a miss, never as a stale hit.
# ``progress`` only asks for progress webhooks. ``vouch`` (options.min_confidence,
# options.on_suspect) only decides what is reported, and which suspect segments are decoded
# again: an entry holds the delivered translation with its confidence, and the guards run on
# cached segments as on computed ones (docs/vouch.md).
NOT_OUTPUT_FIELDS = frozenset({"job_id", "segments", "callback_url", "metadata", "tenant",
                               "progress", "vouch"})


@dataclass(frozen=True)
class CacheScope:
    """Everything besides the source text that decides a translation."""

    model: str
    revision: str
    engine: str
    compute_type: str
    request: str  # canonical JSON of the job's fields that shape the output
    # Empty: entries are shared by everyone using this deployment (docs/cache.md).
    tenant: str = ""

    @classmethod
    def for_job(cls, info: ModelInfo, job: Job, tenant: str = "") -> CacheScope:
        shaping = {
            f.name: getattr(job, f.name) for f in dataclasses.fields(job)
            if f.name not in NOT_OUTPUT_FIELDS
        }
        return cls(
            model=info.name, revision=info.revision, engine=info.engine,
            compute_type=info.compute_type, request=_canonical(shaping), tenant=tenant,
        )

    @classmethod
    def of(
        cls, info: ModelInfo, source_lang: str, target_lang: str, options: DecodeOptions,
        tenant: str = "",
    ) -> CacheScope:
        """The scope of a job with these fields (and defaults for the rest)."""
        job = Job(job_id="-", source_lang=source_lang, target_lang=target_lang, segments=(),
                  callback_url="", options=options)
        return cls.for_job(info, job, tenant)

    def digest(self) -> bytes:
        """The scope's part of every key, computed once per job."""
        return hashlib.sha256(f"{KEY_VERSION}\n{_canonical(asdict(self))}".encode()).digest()

    def keys(self, texts: list[str]) -> list[str]:
        """One key per source text, in order."""
        scope = self.digest()
        return [segment_key(scope, text) for text in texts]


class ScopeDigests:
    """Scope digests, remembered by the values they are made of.

    Many jobs share a scope (a language pair, a model, the default options), and a digest is
    two canonical JSON dumps and a hash: per one-segment job that was more than the segment's
    own key. The memory is keyed by the shaping fields' values themselves, so it can never
    answer for a scope it was not computed from; values that cannot be hashed are computed.
    """

    LIMIT = 1024

    def __init__(self) -> None:
        self._known: dict[tuple[Any, ...], bytes] = {}

    def digest(self, info: ModelInfo, job: Job, tenant: str = "") -> bytes:
        shaping = tuple((f.name, getattr(job, f.name)) for f in dataclasses.fields(job)
                        if f.name not in NOT_OUTPUT_FIELDS)
        memo = (info, tenant, shaping)
        try:
            known = self._known.get(memo)
        except TypeError:  # an unhashable field value: no memory for this one
            return CacheScope.for_job(info, job, tenant).digest()
        if known is None:
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            known = self._known[memo] = CacheScope.for_job(info, job, tenant).digest()
        return known


def segment_key(scope_digest: bytes, text: str) -> str:
    digest = hashlib.sha256(scope_digest)
    digest.update(text.encode("utf-8"))
    return KEY_PREFIX + digest.hexdigest()


def _canonical(value: dict[str, Any]) -> str:
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), default=str)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
