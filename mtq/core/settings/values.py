"""How a setting's text becomes a typed value, and how a wrong one is reported.

The field types and checks :class:`~mtq.core.settings.Settings` declares its fields with, the
environment source that reads ``MTQ_*`` from a given mapping, and the one-line error that
replaces pydantic's report (``MTQ_NAME='value': what it accepts``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from annotated_types import Ge
from pydantic import AfterValidator, BeforeValidator, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode

from mtq.core.errors import ConfigError
from mtq.core.languages import parse_route

_T = TypeVar("_T")


@dataclass(frozen=True)
class Accepts:
    """Field metadata: what the field takes, in words, where its type and bound don't say it."""

    text: str


def split_list(value: object) -> object:
    """A list from the environment is items separated by spaces or commas (not JSON)."""
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    return value


def checked_by(check: Callable[[_T], object]) -> AfterValidator:
    """Validate with one of mtq's own parsers: its ConfigError becomes the field's error."""

    def run(value: _T) -> _T:
        try:
            check(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        return value

    return AfterValidator(run)


def check_routes(routes: Iterable[str]) -> None:
    for route in routes:
        parse_route(route)


def check_networks(networks: Iterable[str]) -> None:
    for cidr in networks:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise ConfigError(f"{cidr!r} is not a CIDR") from exc


def parse_tenant_weights(items: Iterable[str]) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in items:
        tenant, sep, raw = item.partition("=")
        try:
            weight = float(raw) if sep and tenant else 0.0
        except ValueError:
            weight = 0.0
        if not weight > 0:  # also refuses nan
            raise ConfigError(f"{item!r} must look like 'tenant=2' (a positive weight)")
        weights[tenant] = weight
    return weights


# Lists: NoDecode keeps pydantic-settings from reading the variable as JSON.
Words = Annotated[tuple[str, ...], NoDecode, BeforeValidator(split_list)]
Numbers = Annotated[tuple[int, ...], NoDecode, BeforeValidator(split_list)]



class EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ  # read by _load_env_vars, which the base __init__ calls
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Keys as the case-insensitive source looks them up. Surrounding blanks are dropped, and
        # an empty (or blank) variable is unset, as it always was.
        return {k.lower(): v.strip() for k, v in self._environ.items() if v.strip()}


def config_error(
    exc: ValidationError, given: Mapping[str, Any], fields: Mapping[str, FieldInfo]
) -> ConfigError:
    """``MTQ_NAME='value': what it accepts`` for the first wrong setting."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    var = f"MTQ_{name.upper()}"
    field = fields.get(name)
    if error["type"] == "value_error":  # a validator's own words (a route, a CIDR, a URL)
        reason = str(error["ctx"]["error"]).removeprefix(f"{var}: ")
    elif field is None:
        reason = f"{var} is not a setting"
    else:
        reason = f"{var} must be {_accepts(field)}"
    return ConfigError(f"{var}={given.get(name, error['input'])!r}: {reason}")


_KINDS: dict[object, str] = {
    str: "text",
    int: "an integer",
    float: "a number",
    bool: "true or false (1/0, yes/no, on/off)",
    tuple[int, ...]: "integers separated by spaces or commas",
    tuple[str, ...]: "items separated by spaces or commas",
}


def _accepts(field: FieldInfo) -> str:
    """What a field accepts, in words: its Accepts note, else its choices, or bound and type."""
    for note in field.metadata:
        if isinstance(note, Accepts):
            return note.text
    if get_origin(field.annotation) is Literal:
        choices = [repr(choice) for choice in get_args(field.annotation)]
        return f"{', '.join(choices[:-1])} or {choices[-1]}"
    kind = _KINDS.get(field.annotation, "a valid value")
    bound = next((note.ge for note in field.metadata if isinstance(note, Ge)), None)
    return kind if bound is None else f"at least {bound} ({kind})"
