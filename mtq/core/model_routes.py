"""Which model serves which route: ``MTQ_MODELS``, or ``MTQ_MODEL`` with ``MTQ_ROUTES``.

``MTQ_MODELS="en-de=Helsinki-NLP/opus-mt-en-de en-fr=Helsinki-NLP/opus-mt-en-fr
*=facebook/nllb-200-distilled-600M"`` maps routes to models (hub ids or local folders).
The worker consumes the queue of every route named there; a ``*`` entry serves, in addition,
every route of ``MTQ_ROUTES`` that has no entry of its own. Without ``MTQ_MODELS`` the table
is ``*=$MTQ_MODEL`` over ``MTQ_ROUTES``, exactly the single-model worker of before.

Canary: ``MTQ_CANARY="models:/NAME@challenger:0.1"`` sends the jobs whose ``job_id`` hashes
below 0.1 (sha256 of the id, read as a number in [0, 1)) to ``models:/NAME@challenger``, on
every route a ``models:/NAME…`` reference serves. Pure and deterministic: a job redelivered,
retried or handled by another pod goes to the same model, and a job id's side never depends
on the traffic around it. The share is a target, not a quota: over n jobs the observed share
is binomial around it (within 2 points over 2,000 jobs for 10 %, as the tests check).
"""

from __future__ import annotations

import hashlib
import re
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


_CANARY = re.compile(r"^(?P<reference>models:/(?P<name>[A-Za-z0-9][A-Za-z0-9._\- ]{0,255})"
                     r"@[A-Za-z0-9_\-]{1,255}):(?P<share>[0-9.]+)$")


@dataclass(frozen=True)
class Canary:
    reference: str  # models:/NAME@ALIAS, the challenger
    name: str  # the registered model whose routes it takes a share of
    share: float  # in (0, 1)

    def takes(self, job_id: str) -> bool:
        return canary_point(job_id) < self.share


def canary_point(job_id: str) -> float:
    """Where ``job_id`` falls in [0, 1): the first 8 bytes of its sha256."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:8], "big") / 2**64


def parse_canary(text: str) -> Canary | None:
    """``models:/NAME@ALIAS:SHARE`` (SHARE in (0, 1)), or None when empty."""
    if not text:
        return None
    match = _CANARY.match(text)
    share = -1.0
    if match:
        try:
            share = float(match["share"])
        except ValueError:
            share = -1.0
    if match is None or not 0 < share < 1:
        raise ConfigError(f"{text!r} is not a challenger share: use models:/NAME@ALIAS:SHARE "
                          "with a share between 0 and 1, e.g. models:/opus-en-de@challenger:0.1")
    return Canary(match["reference"], match["name"], share)
