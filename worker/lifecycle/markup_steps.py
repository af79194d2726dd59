"""Markup and terminology in the worker: what the model reads for a job, and its translations
put back together with the terminology report.

Intake encodes :func:`model_texts` instead of the raw segments; completion passes the decoded
translations through :func:`restore_job`. Both are the identity for a job without
``options.markup`` / ``options.placeholders`` and without terminology, so plain jobs take
exactly today's path. Masking is pure and cheap, so completion masks again instead of carrying
masks around. Term entries are masked as codes (``mask`` method), read by the model as their
targets (``inline``) or as themselves (``replace``); with the last two, a target the model did
not write is put in afterwards (``mtq/core/markup/inline_terms.py``). The report is computed
from the delivered text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass

from mtq.core.contract import Job
from mtq.core.markup import CharLink, Masked, SegmentWarning, mask, restore, verify
from mtq.core.markup.inline_terms import repair
from mtq.core.markup.parse import escape
from mtq.core.terms import TERM_MISSING, SegmentTerms, TermMatcher, check_segment, matcher_for
from worker.engines.alignment import Attention, char_alignment

log = logging.getLogger(__name__)
Decode = Callable[[Sequence[Sequence[int]]], list[str]]  # Engine.decode


def masking(job: Job) -> bool:
    """Whether the job's segments are masked at all (off: today's path, untouched)."""
    return job.markup.active or bool(job.terms.entries)


def _matcher(job: Job) -> TermMatcher | None:
    terms = job.terms
    return matcher_for(terms.entries, terms.case_sensitive) if terms.entries else None


def _mask(job: Job, segment: str, matcher: TermMatcher | None) -> Masked:
    options = job.markup
    method = job.terms.method
    return mask(segment, options.markup, options.placeholders, matcher,
                inline=method == "inline", replace=method == "replace")


def model_texts(job: Job) -> list[str]:
    return model_inputs(job)[0]


def model_inputs(job: Job) -> tuple[list[str], list[bool]]:
    """The texts the model reads, and per segment whether its attention is wanted (markup
    codes to place, or terms)."""
    if not masking(job):
        return list(job.segments), [False] * len(job.segments)
    matcher = _matcher(job)
    masks = [_mask(job, s, matcher) for s in job.segments]
    return [m.text for m in masks], [job.markup.active or bool(m.terms) for m in masks]


@dataclass(frozen=True)
class RestoredJob:
    translations: tuple[str, ...]
    warnings: tuple[SegmentWarning, ...]
    terms: tuple[SegmentTerms, ...] = ()
    repaired: int = 0  # inline/replace terms the model did not write, put in afterwards


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
    if not masking(job):
        return RestoredJob(tuple(translations), ())
    matcher = _matcher(job)
    texts: list[str] = []
    warnings: list[SegmentWarning] = []
    reports: list[SegmentTerms] = []
    repaired = 0
    for index, (segment, translation) in enumerate(zip(job.segments, translations, strict=True)):
        if not segment.strip():
            texts.append(translation)  # answered at intake, as without markup
            reports.append(SegmentTerms(()))
            continue
        masked = _mask(job, segment, matcher)
        if index in answered:
            text = translation
            found = [*masked.warnings, *verify(masked, translation)]
            warnings.extend(SegmentWarning(index, w.code, w.message)
                            for n, w in enumerate(found) if w not in found[:n])
        else:
            links = _links(job, index, masked, translation, outputs, attention, decode)
            text, fixed = _restored(job, masked, translation, links, warnings, index)
            repaired += fixed
        texts.append(text)
        report = check_segment(masked.terms, text, job.terms.case_sensitive,
                               lambda t: escape(t, job.markup.markup))
        reports.append(report)
        warnings.extend(SegmentWarning(index, TERM_MISSING,
                                       f"{r.source[:60]!r} -> {r.target[:60]!r} is not in the "
                                       "translation") for r in report.missing())
    return RestoredJob(tuple(texts), tuple(warnings), tuple(reports), repaired)


def _links(
    job: Job, index: int, masked: Masked, translation: str,
    outputs: Sequence[Sequence[int] | None],
    attention: Mapping[int, tuple[Sequence[int], Attention]], decode: Decode,
) -> list[CharLink] | None:
    output = outputs[index]
    if index not in attention or not output:
        return None
    source_ids, rows = attention[index]
    try:
        return char_alignment(decode, source_ids, masked.text, output, translation, rows)
    except Exception:  # the fallback placement still keeps every guarantee
        log.warning("job %s: segment %d: alignment unusable", job.job_id, index, exc_info=True)
        return None


def _restored(
    job: Job, masked: Masked, translation: str, links: list[CharLink] | None,
    warnings: list[SegmentWarning], index: int,
) -> tuple[str, int]:
    fixed = 0
    if masked.sites:  # inline/replace terms: a target the model did not write goes in first
        mended = repair(masked.sites, translation, links, job.terms.case_sensitive,
                        len(masked.text))
        translation, links, fixed = mended.text, list(mended.links), mended.repaired
    result = restore(masked, translation, links)
    warnings.extend(SegmentWarning(index, w.code, w.message) for w in result.warnings)
    return result.text, fixed
