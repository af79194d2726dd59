"""Terminology in the worker: stored glossaries read, cached and resolved for a job.

- ``store``: :class:`GlossaryCache`, the stored glossaries this worker read, re-checked
  against the stored version every ``MTQ_GLOSSARY_TTL_S`` (one async PostgreSQL connection,
  never blocking the event loop).
- ``resolve``: a job's ``options.glossary_id`` turned into its entries and version at intake,
  or the ``job.failed`` that explains why not.

Masking, restoring and the report are in ``lifecycle/markup_steps.py`` over the pure
``mtq/core/terms`` and ``mtq/core/markup``.
"""

from worker.terms.resolve import GlossaryResolver
from worker.terms.store import GlossaryCache, StoreUnavailable

__all__ = ["GlossaryCache", "GlossaryResolver", "StoreUnavailable"]
