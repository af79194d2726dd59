"""A job's stored glossary, resolved at intake into the entries and version it is held to."""

from __future__ import annotations

import dataclasses

from mtq.core.contract import ErrorCode, InvalidJob, Job
from mtq.core.terms import GlossaryRef, TermEntry
from mtq.core.terms.entries import MAX_INLINE_ENTRIES, MAX_STORED_ENTRIES, entries_problem, merged
from worker.terms.store import GlossaryCache, StoreUnavailable

_Key = tuple[str, str, int, tuple[TermEntry, ...], bool]


class GlossaryResolver:
    """Turns ``options.glossary_id`` into entries (``None`` cache: no store configured)."""

    def __init__(self, cache: GlossaryCache | None) -> None:
        self.cache = cache
        self._merged: dict[_Key, tuple[tuple[TermEntry, ...], str | None]] = {}

    async def resolve(self, job: Job) -> Job:
        """``job`` with the stored glossary's entries merged in; :class:`InvalidJob` when the
        glossary cannot be used (the message says why)."""
        terms = job.terms
        if terms.glossary_id is None or terms.stored is not None:
            return job
        name = terms.glossary_id
        if self.cache is None:
            raise InvalidJob.for_job(job, ErrorCode.INVALID_JOB, "options.glossary_id: this "
                                     "deployment has no glossary store (MTQ_DATABASE_URL)")
        tenant = job.tenant or ""
        try:
            stored = await self.cache.get(tenant, name)
        except StoreUnavailable as exc:
            raise InvalidJob.for_job(job, ErrorCode.INTERNAL_ERROR,
                                     f"the glossary store is unavailable: {exc}") from exc
        if stored is None:
            whose = f"tenant {tenant!r}" if tenant else "jobs without a tenant"
            raise InvalidJob.for_job(job, ErrorCode.INVALID_JOB,
                                     f"options.glossary_id: no glossary {name!r} for {whose}")
        pair = f"{stored.source_lang}-{stored.target_lang}"
        if pair != job.route:
            raise InvalidJob.for_job(job, ErrorCode.INVALID_JOB,
                                     f"options.glossary_id: {name!r} is for {pair}, "
                                     f"not {job.route}")
        key = (tenant, name, stored.version, terms.entries, terms.case_sensitive)
        known = self._merged.get(key)
        if known is None:
            entries = merged(stored.entries, terms.entries, terms.case_sensitive)
            located = [(f"glossary {name!r} version {stored.version}: {e.source[:40]!r}", e)
                       for e in entries]
            problem = entries_problem(located, terms.case_sensitive,
                                      MAX_STORED_ENTRIES + MAX_INLINE_ENTRIES, "the glossaries")
            if len(self._merged) >= 256:
                self._merged.clear()
            known = self._merged[key] = (entries, problem)
        entries, problem = known
        if problem is not None:
            raise InvalidJob.for_job(job, ErrorCode.INVALID_JOB, problem)
        ref = GlossaryRef(name, stored.version)
        return dataclasses.replace(job, terms=dataclasses.replace(terms, entries=entries,
                                                                  stored=ref))
