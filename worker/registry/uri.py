"""``models:/NAME@ALIAS`` and ``models:/NAME/VERSION``: what a registry reference says."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mtq.core.errors import ConfigError

PREFIX = "models:/"
_NAME = r"[A-Za-z0-9][A-Za-z0-9._\- ]{0,255}"
_ALIAS = re.compile(rf"^models:/(?P<name>{_NAME})@(?P<alias>[A-Za-z0-9_\-]{{1,255}})$")
_VERSION = re.compile(rf"^models:/(?P<name>{_NAME})/(?P<version>[1-9][0-9]*)$")


@dataclass(frozen=True)
class RegistryURI:
    """A registered model and either an alias to follow or a fixed version."""

    name: str
    alias: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        return f"{PREFIX}{self.name}@{self.alias}" if self.alias else \
            f"{PREFIX}{self.name}/{self.version}"


def is_registry_uri(reference: str) -> bool:
    return reference.startswith(PREFIX)


def parse_registry_uri(reference: str) -> RegistryURI:
    """The URI's parts, or ConfigError saying the two forms accepted."""
    for pattern in (_ALIAS, _VERSION):
        match = pattern.match(reference)
        if match:
            return RegistryURI(**match.groupdict())
    raise ConfigError(
        f"{reference!r} is not a registry model: use models:/NAME@ALIAS (follows the alias) "
        "or models:/NAME/VERSION (a fixed version)"
    )
