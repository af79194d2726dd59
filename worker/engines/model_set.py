"""Several models on one worker: the route table's engines behind the one Engine interface.

:class:`ModelSet` loads every model of the route table (``mtq/core/model_routes.py``) at start and
is itself an :class:`~worker.engines.Engine` for the rest of the worker: intake asks it how a
job is served (:meth:`ModelSet.serve`: which model, and the pair's language tokens, or None
when no model can serve that pair), and the job's decode options then name the model
(:class:`ModelDecodeOptions`). The scheduler keeps one pool per decode setting, so batches
form per model and, within a model, across language pairs; ``generate`` runs each batch on its
model.

Why every model loads at start rather than lazily under an LRU: a worker consumes all its
route queues at once, so any model can be needed at any second, and loading one takes seconds
to minutes; an LRU would stall whole batches behind a load and thrash under mixed traffic.
Loading at start also fails fast (a missing model is a start-up error, not a failed job) and
lets the token budget be sized once with every model resident (the smallest budget wins).
Size the pod for the sum of the models; run separate Deployments when they do not fit.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from mtq.core.contract import DecodeOptions, Job
from mtq.core.errors import ConfigError
from mtq.core.events import ModelInfo
from mtq.core.languages import parse_route
from mtq.core.model_routes import Canary, RouteTable, parse_canary, route_table
from mtq.core.settings import Settings
from mtq.core.vouch import Hypothesis
from worker.engines import Engine, load_engine
from worker.engines.languages import BILINGUAL, LanguagePair, ModelLanguages

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelDecodeOptions(DecodeOptions):
    """Decode options on one model: a batch runs on one model, so batches group by it too."""

    model: str = ""


@dataclass(frozen=True)
class Served:
    """How one job is served: its model and the pair's language tokens there."""

    model: str
    engine: Engine
    pair: LanguagePair

    def options(self, options: DecodeOptions) -> ModelDecodeOptions:
        return ModelDecodeOptions(options.beam_size, options.max_new_tokens, model=self.model)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """The job's token ids, its source language applied (bilingual: the tokenizer's own)."""
        if not self.pair.explicit:
            return self.engine.encode(texts)
        return self.engine.encode(texts, self.pair)


class ModelSet:
    """Every model of the route table, by model reference; an Engine for the worker."""

    def __init__(self, engines: Mapping[str, Engine], table: RouteTable,
                 canary: Canary | None = None, shadow: Canary | None = None) -> None:
        if not engines:
            raise ConfigError("no model to serve")
        self._engines = dict(engines)
        self._table = table
        # MTQ_CANARY: its challenger is one more engine, keyed by its reference.
        self.canary = canary
        self.shadow = shadow  # MTQ_SHADOW's challenger: one more engine, never stamped
        if canary is not None:
            _stamp_canary(self._engines[canary.reference])
        # A reference (as configured) to the key of the engine serving it now: the same key
        # until a rollover (registry/rollover.py) switches it to a new version's engine.
        self._current = {reference: reference for reference in self._engines}
        self._default = next(iter(self._engines))
        self._metrics: _ModelMetrics | None = None
        # The Engine interface's attributes: the first model's identity, and the source
        # limit every model accepts.
        default = self._engines[self._default]
        self.info: ModelInfo = default.info
        self.languages: ModelLanguages = _languages(default)
        self.max_source_tokens = min(e.max_source_tokens for e in self._engines.values())
        for route in table.routes:
            engine = self._engines[table.model_for(route) or self._default]
            if _languages(engine).pair(*parse_route(route)) is None:
                log.warning("route %s: %s has no language codes for it; its jobs will fail "
                            "with unsupported_language_pair (see MTQ_LANGUAGE_CODES)",
                            route, engine.info.name)

    @classmethod
    def load(
        cls, settings: Settings, loader: Callable[[Settings], Engine] = load_engine
    ) -> ModelSet:
        """Load every model the route table names, in order (ConfigError when one fails)."""
        table = route_table(settings)
        engines = {}
        for model in table.models:
            log.info("loading %s for %s", model, ", ".join(table.routes_of(model)))
            engines[model] = loader(settings.replace(model=model, models=()))
        canary, shadow = parse_canary(settings.canary), parse_canary(settings.shadow)
        for variable, challenger in (("MTQ_CANARY", canary), ("MTQ_SHADOW", shadow)):
            if challenger is None or challenger.reference in engines:
                continue
            if not any(_of_model(m, challenger.name) for m in table.models):
                raise ConfigError(f"{variable} names models:/{challenger.name}, which serves "
                                  f"no route of this worker (models: {', '.join(table.models)})")
            log.info("loading %s for a %s share of %.1f%%", challenger.reference,
                     variable[4:].lower(), 100 * challenger.share)
            engines[challenger.reference] = loader(settings.replace(model=challenger.reference,
                                                                    models=()))
        return cls(engines, table, canary, shadow)

    @classmethod
    def of(cls, engine: Engine | ModelSet, routes: Sequence[str]) -> ModelSet:
        """``engine`` as it is, or one engine serving ``routes`` (tests hand the worker one)."""
        if isinstance(engine, ModelSet):
            return engine
        return cls({"default": engine}, RouteTable(tuple((r, "default") for r in routes)))

    def attach_metrics(self, registry: CollectorRegistry) -> None:
        """Count jobs, batches and segments per model on the worker's registry."""
        self._metrics = _ModelMetrics(registry)

    @property
    def routes(self) -> tuple[str, ...]:
        return self._table.routes

    @property
    def engines(self) -> dict[str, Engine]:
        return dict(self._engines)

    @property
    def table(self) -> RouteTable:
        return self._table

    def current(self, reference: str) -> tuple[str, Engine]:
        """The key and engine serving ``reference`` (a model of the route table) now."""
        key = self._current.get(reference, reference)
        return key, self._engines[key]

    def switch(self, reference: str, key: str, engine: Engine) -> str:
        """Jobs admitted from now on run on ``engine``; returns the key it replaces.

        Jobs admitted before keep the old key in their decode options, so each job runs on
        one version only; the old engine stays until :meth:`free` (nothing holds it).
        """
        old = self._current.get(reference, reference)
        if self.canary is not None and reference == self.canary.reference:
            _stamp_canary(engine)  # the challenger alias moved: still the canary
        self._engines[key] = engine
        self._current[reference] = key
        return old

    def serves(self, key: str) -> bool:
        """Whether ``key`` is the engine some reference serves new jobs with."""
        return key in self._current.values()

    def free(self, key: str) -> None:
        """Drop an engine no reference serves any more, and its memory."""
        if self.serves(key):
            raise ValueError(f"{key} still serves")
        engine = self._engines.pop(key)
        engine.release_memory()

    def serve(self, job: Job) -> Served | None:
        """The model and language tokens for ``job``; None when its pair cannot be served."""
        reference = self._table.model_for(job.route)
        if reference is None:
            return None
        if self.canary is not None and _of_model(reference, self.canary.name) and \
                self.canary.takes(job.job_id):
            reference = self.canary.reference
        model, engine = self.current(reference)
        pair = _languages(engine).pair(job.source_lang, job.target_lang)
        if pair is None:
            return None
        if self._metrics is not None:
            self._metrics.jobs.labels(model=engine.info.name).inc()
        return Served(model, engine, pair)

    def unsupported(self, job: Job) -> str:
        """The ``unsupported_language_pair`` message for a job :meth:`serve` refused."""
        model = self._table.model_for(job.route)
        name = self.current(model)[1].info.name if model else "no model"
        return (f"{job.route} cannot be served by {name}: it has no language code for "
                f"{job.source_lang!r} or {job.target_lang!r}")

    def engine_for(self, options: DecodeOptions) -> Engine:
        key = getattr(options, "model", "")
        return self._engines[key] if key else self.current(self._default)[1]

    # -- the Engine interface, for the inference thread and the worker's start -------------

    def encode(self, texts: Sequence[str], pair: LanguagePair = BILINGUAL) -> list[list[int]]:
        return self.current(self._default)[1].encode(texts, pair)

    def generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions, *,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[list[int]]:
        return [row.tokens for row in self.generate_scored(sources, options, prefixes=prefixes)]

    def generate_scored(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions, *,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[Hypothesis]:
        engine = self.engine_for(options)
        if prefixes is None:  # engines wrapped by tests may not know prefixes
            outputs = engine.generate_scored(sources, options)
        else:
            outputs = engine.generate_scored(sources, options, prefixes=prefixes)
        if self._metrics is not None:
            self._metrics.batches.labels(model=engine.info.name).inc()
            self._metrics.segments.labels(model=engine.info.name).inc(len(sources))
        return outputs

    def decode(self, outputs: Sequence[Sequence[int]]) -> list[str]:
        return self.current(self._default)[1].decode(outputs)

    def warmup(self, options: DecodeOptions) -> None:
        for engine in self._engines.values():
            engine.warmup(options)

    def suggest_token_budget(self, configured: int, options: DecodeOptions) -> int:
        """Every model is resident: the smallest budget is the one every batch fits."""
        return min(e.suggest_token_budget(configured, options) for e in self._engines.values())

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return any(engine.is_out_of_memory(exc) for engine in self._engines.values())

    def release_memory(self) -> None:
        for engine in self._engines.values():
            engine.release_memory()


class _ModelMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.jobs = Counter("mtq_model_jobs", "Jobs admitted, by the model that serves them",
                            ["model"], registry=registry)
        self.batches = Counter("mtq_model_batches", "Batches generated, by model", ["model"],
                               registry=registry)
        self.segments = Counter("mtq_model_segments", "Segments generated, by model", ["model"],
                                registry=registry)


def _languages(engine: Engine) -> ModelLanguages:
    """An engine's languages; a wrapper without them serves its routes as a bilingual model."""
    languages: ModelLanguages = getattr(engine, "languages", _BILINGUAL_MODEL)
    return languages


_BILINGUAL_MODEL = ModelLanguages(None, {})


def _of_model(reference: str, name: str) -> bool:
    """Whether ``reference`` is a version or an alias of registered model ``name``."""
    return reference.startswith((f"models:/{name}@", f"models:/{name}/"))


def _stamp_canary(engine: Engine) -> None:
    """Results of this engine say they came from the canary (``model.registry.role``)."""
    registry = engine.info.registry
    if registry is not None:
        engine.info = dataclasses.replace(
            engine.info, registry=dataclasses.replace(registry, role="canary"))
