"""What a cache entry holds: the translation, its confidence and whether decoding finished.

Stored as one string: a marker, then compact JSON. An entry written before confidence existed
(plain text, no marker) or one that does not read back is treated as a miss, so the segment is
translated again and stored in this form; a cached segment always carries the values computed
with it, never a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MARKER = "\x1emtq2:"  # a control character no translation starts with, and a version


@dataclass(frozen=True)
class CachedTranslation:
    text: str
    confidence: float
    finished: bool = True


def encode_entry(entry: CachedTranslation) -> str:
    body = {"t": entry.text, "c": entry.confidence, "f": entry.finished}
    return MARKER + json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def decode_entry(value: str) -> CachedTranslation | None:
    """The entry ``value`` holds; None for an old-format or damaged entry."""
    if not value.startswith(MARKER):
        return None
    try:
        body = json.loads(value[len(MARKER):])
        text, confidence, finished = body["t"], body["c"], body["f"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(text, str) or not isinstance(finished, bool) or isinstance(
            confidence, bool) or not isinstance(confidence, int | float):
        return None
    if not 0.0 <= confidence <= 1.0:
        return None
    return CachedTranslation(text, float(confidence), finished)
