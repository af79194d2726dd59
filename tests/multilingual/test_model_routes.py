"""MTQ_MODELS route tables (mtq/core/model_routes.py); MTQ_MODEL + MTQ_ROUTES unchanged."""

from __future__ import annotations

import pytest

from mtq.core.errors import ConfigError
from mtq.core.model_routes import route_table
from mtq.core.settings import Settings


def settings(**env: str) -> Settings:
    return Settings.from_env({f"MTQ_{k.upper()}": v for k, v in env.items()})


def test_single_model_serves_its_routes_as_before() -> None:
    table = route_table(settings(model="Helsinki-NLP/opus-mt-en-de", routes="en-de,en-fr"))
    assert table.routes == ("en-de", "en-fr")
    assert table.models == ("Helsinki-NLP/opus-mt-en-de",)
    assert table.model_for("en-fr") == "Helsinki-NLP/opus-mt-en-de"
    assert table.model_for("en-es") is None


def test_models_map_routes_and_the_wildcard_serves_mtq_routes() -> None:
    table = route_table(settings(
        models="en-de=opus-en-de en-fr=opus-en-fr *=nllb",
        routes="en-de en-es de-fr en-pt_BR",
    ))
    assert table.routes == ("en-de", "en-fr", "en-es", "de-fr", "en-pt_BR")
    assert table.model_for("en-de") == "opus-en-de"
    assert table.model_for("en-es") == "nllb"
    assert table.models == ("opus-en-de", "opus-en-fr", "nllb")
    assert table.routes_of("nllb") == ("en-es", "de-fr", "en-pt_BR")


def test_without_a_wildcard_the_table_is_the_routes() -> None:
    table = route_table(settings(models="en-de=a,en-fr=b"))  # MTQ_ROUTES's default ignored
    assert table.routes == ("en-de", "en-fr")


def test_local_folders_may_contain_equals_signs() -> None:
    assert route_table(settings(models="en-de=/models/a=b")).model_for("en-de") == "/models/a=b"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"models": "en-de"}, "must look like"),
        ({"models": "en-de="}, "must look like"),
        ({"models": "en-de-fr=x"}, "route"),
        ({"models": "en-de=a en-de=b"}, "listed twice"),
        ({"models": "en-de=a", "model": "b"}, "not both"),
        ({"models": "en-de=a en-fr=b", "model_revision": "abc"}, "one model"),
    ],
)
def test_bad_tables_are_config_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        route_table(settings(**env))


def test_no_model_at_all_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="MTQ_MODELS"):
        route_table(settings())


def test_topology_declares_the_routes_of_the_table() -> None:
    from mtq.cli.commands import _routes

    table = settings(models="en-de=a *=b", routes="en-fr")
    assert _routes(table, None) == ("en-de", "en-fr")
    assert _routes(table, "de-fr") == ("de-fr",)
    assert _routes(settings(routes="en-fr,en-es"), None) == ("en-fr", "en-es")
