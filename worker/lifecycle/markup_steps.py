"""Markup in the worker: what the model reads for a job, and its translations put back together.

Intake encodes :func:`model_texts` instead of the raw segments; completion passes the decoded
translations through :func:`restore_job`. Both are the identity for a job without
``options.markup`` / ``options.placeholders``, so plain jobs take exactly today's path.
Masking is pure and cheap, so completion masks again instead of carrying masks around.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass

from mtq.core.contract import Job
from mtq.core.markup import CharLink, SegmentWarning, mask, restore, verify
from worker.engines.alignment import Attention, char_alignment

log = logging.getLogger(__name__)
Decode = Callable[[Sequence[Sequence[int]]], list[str]]  # Engine.decode


def model_texts(job: Job) -> list[str]:
    options = job.markup
    if not options.active:
        return list(job.segments)
    return [mask(s, options.markup, options.placeholders).text for s in job.segments]


@dataclass(frozen=True)
class RestoredJob:
    translations: tuple[str, ...]
    warnings: tuple[SegmentWarning, ...]


def restore_job(
    job: Job, translations: Sequence[str], outputs: Sequence[Sequence[int] | None],
    attention: Mapping[int, tuple[Sequence[int], Attention]], decode: Decode,
    answered: Container[int] = (),
) -> RestoredJob:
    """Every source code put back into its translation, with per-segment warnings.

    ``attention`` maps a segment index to (its source token ids, the attention of its output);
    segments without it are placed by the deterministic fallback. Segments in ``answered``
    already hold their final text (blank, or a cached result that was restored when it was
    computed): they are only checked again, which gives the same warnings as the first time.
    """
    options = job.markup
    if not options.active:
        return RestoredJob(tuple(translations), ())
    texts: list[str] = []
    warnings: list[SegmentWarning] = []
    for index, (segment, translation) in enumerate(zip(job.segments, translations, strict=True)):
        if not segment.strip():
            texts.append(translation)  # answered at intake, as without markup
            continue
        masked = mask(segment, options.markup, options.placeholders)
        if index in answered:
            texts.append(translation)
            found = [*masked.warnings, *verify(masked, translation)]
            warnings.extend(SegmentWarning(index, w.code, w.message)
                            for n, w in enumerate(found) if w not in found[:n])
            continue
        links: list[CharLink] | None = None
        output = outputs[index]
        if index in attention and output:
            source_ids, rows = attention[index]
            try:
                links = char_alignment(decode, source_ids, masked.text, output, translation,
                                       rows)
            except Exception:  # the fallback placement still keeps every guarantee
                log.warning("job %s: segment %d: alignment unusable", job.job_id, index,
                            exc_info=True)
        result = restore(masked, translation, links)
        texts.append(result.text)
        warnings.extend(SegmentWarning(index, w.code, w.message) for w in result.warnings)
    return RestoredJob(tuple(texts), tuple(warnings))
