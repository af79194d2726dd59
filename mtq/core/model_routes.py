"""Which model serves which route: ``MTQ_MODELS``, or ``MTQ_MODEL`` with ``MTQ_ROUTES``.

``MTQ_MODELS="en-de=Helsinki-NLP/opus-mt-en-de en-fr=Helsinki-NLP/opus-mt-en-fr
*=facebook/nllb-200-distilled-600M"`` maps routes to models (hub ids or local folders).
The worker consumes the queue of every route named there; a ``*`` entry serves, in addition,
every route of ``MTQ_ROUTES`` that has no entry of its own. Without ``MTQ_MODELS`` the table
is ``*=$MTQ_MODEL`` over ``MTQ_ROUTES``, exactly the single-model worker of before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from mtq.core.errors import ConfigError
from mtq.core.languages import parse_route

WILDCARD = "*"


class RouteSettings(Protocol):
    """The settings a route table is read from (:class:`~mtq.core.settings.Settings` has them)."""

    @property
    def model(self) -> str: ...
    @property
    def models(self) -> tuple[str, ...]: ...
    @property
    def routes(self) -> tuple[str, ...]: ...
    @property
    def model_revision(self) -> str: ...


@dataclass(frozen=True)
class RouteTable:
    """Routes served, each with its model reference (as configured: hub id or folder)."""

    assignments: tuple[tuple[str, str], ...]  # (route, model), in configuration order

    @property
    def routes(self) -> tuple[str, ...]:
        return tuple(route for route, _ in self.assignments)

    @property
    def models(self) -> tuple[str, ...]:
        """Distinct models, in the order they are first named."""
        return tuple(dict.fromkeys(model for _, model in self.assignments))

    def model_for(self, route: str) -> str | None:
        return next((model for served, model in self.assignments if served == route), None)

    def routes_of(self, model: str) -> tuple[str, ...]:
        return tuple(route for route, served_by in self.assignments if served_by == model)


def parse_models(entries: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``("en-de=opus", "*=nllb")`` -> ``(("en-de", "opus"), ("*", "nllb"))``, or ConfigError."""
    parsed: dict[str, str] = {}
    for entry in entries:
        route, sep, model = entry.partition("=")
        if not sep or not model:
            raise ConfigError(
                f"MTQ_MODELS: {entry!r} must look like 'en-de=Helsinki-NLP/opus-mt-en-de' "
                "or '*=facebook/nllb-200-distilled-600M'"
            )
        if route != WILDCARD:
            try:
                parse_route(route)
            except ConfigError as exc:
                raise ConfigError(f"MTQ_MODELS: {exc}") from exc
        if route in parsed:
            raise ConfigError(f"MTQ_MODELS: route {route!r} is listed twice")
        parsed[route] = model
    return tuple(parsed.items())


def route_table(settings: RouteSettings) -> RouteTable:
    """The routes this worker serves and the model of each; ConfigError when inconsistent."""
    if not settings.models:
        if not settings.model:
            raise ConfigError(
                "MTQ_MODEL is not set: give a HuggingFace model id (e.g. "
                "Helsinki-NLP/opus-mt-en-de) or a local directory (build one offline with "
                "`mtq tiny-model PATH`), or map routes to models with MTQ_MODELS"
            )
        return RouteTable(tuple((route, settings.model) for route in settings.routes))
    if settings.model:
        raise ConfigError(
            "set MTQ_MODELS or MTQ_MODEL, not both (MTQ_MODEL=X is MTQ_MODELS='*=X')"
        )
    entries = parse_models(settings.models)
    explicit = [(route, model) for route, model in entries if route != WILDCARD]
    fallback = dict(entries).get(WILDCARD)
    if fallback is not None:
        named = {route for route, _ in explicit}
        explicit += [(route, fallback) for route in settings.routes if route not in named]
    table = RouteTable(tuple(explicit))
    if settings.model_revision and len(table.models) > 1:
        raise ConfigError("MTQ_MODEL_REVISION names one model's revision; it needs one model")
    return table
