"""Registry URIs: the two forms, and a clear error for anything else (no server needed)."""

from __future__ import annotations

import pytest

from mtq.core.errors import ConfigError
from worker.registry.uri import RegistryURI, is_registry_uri, parse_registry_uri


def test_alias_and_version_forms() -> None:
    assert parse_registry_uri("models:/en-de@champion") == RegistryURI("en-de", alias="champion")
    assert parse_registry_uri("models:/opus.en_de/12") == RegistryURI("opus.en_de", version="12")
    assert str(RegistryURI("m", alias="a")) == "models:/m@a"
    assert str(RegistryURI("m", version="3")) == "models:/m/3"


@pytest.mark.parametrize("bad", ["models:/", "models:/x", "models:/x/0", "models:/x/latest",
                                 "models:/x@", "models:/@a", "models:/x/1/2"])
def test_malformed_uris_say_what_is_accepted(bad: str) -> None:
    with pytest.raises(ConfigError, match="models:/NAME@ALIAS"):
        parse_registry_uri(bad)


def test_only_models_scheme_is_a_registry_uri() -> None:
    assert is_registry_uri("models:/x@a")
    assert not is_registry_uri("Helsinki-NLP/opus-mt-en-de")
    assert not is_registry_uri("/srv/models/x")
