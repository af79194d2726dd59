"""Settings: env parsing, validation with clear messages, and docs that match the code."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mtq.core.errors import ConfigError
from mtq.core.health import DISPATCHER_METRICS_PORT, WORKER_METRICS_PORT, metrics_port
from mtq.core.languages import parse_route
from mtq.core.settings import DEFAULT_AMQP_URL, Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.amqp_url == DEFAULT_AMQP_URL
    assert settings.routes == ("en-de",)
    assert settings.webhook_secret == ()


def test_environment_is_parsed_by_type() -> None:
    settings = Settings.from_env({
        "MTQ_ROUTES": "en-de, en-fr",
        "MTQ_PREFETCH": "8",
        "MTQ_DRAIN_TIMEOUT_S": "12.5",
        "MTQ_WEBHOOK_RETRY_SCHEDULE_S": "1,2 3",
        "MTQ_WEBHOOK_SECRET": "whsec_a whsec_b",
    })
    assert settings.routes == ("en-de", "en-fr")
    assert settings.prefetch == 8
    assert settings.drain_timeout_s == 12.5
    assert settings.webhook_retry_schedule_s == (1, 2, 3)
    assert settings.webhook_secret == ("whsec_a", "whsec_b")


def test_flags_override_environment_and_none_means_unset() -> None:
    settings = Settings.from_env({"MTQ_PREFETCH": "8"}, prefetch=4, model=None)
    assert settings.prefetch == 4
    assert settings.model == ""


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MTQ_PREFETCH": "many"}, "MTQ_PREFETCH='many'"),
        ({"MTQ_PREFETCH": "0"}, "MTQ_PREFETCH must be at least 1"),
        ({"MTQ_RESULTS_PER_MESSAGE": "0"}, "MTQ_RESULTS_PER_MESSAGE must be at least 1"),
        ({"MTQ_ROUTES": "english"}, "route 'english' must look like 'en-de'"),
        ({"MTQ_WEBHOOK_ALLOW_NETWORKS": "10.0.0.0/99"}, "is not a CIDR"),
        ({"MTQ_ENGINE": "onnx"}, "MTQ_ENGINE must be"),
        ({"MTQ_DEVICE": "tpu"}, "MTQ_DEVICE must be"),
        ({"MTQ_METRICS_PORT": "70000"}, "MTQ_METRICS_PORT must be a TCP port"),
        ({"MTQ_METRICS_PORT": "nine"}, "MTQ_METRICS_PORT='nine'"),
    ],
)
def test_bad_settings_say_what_to_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Settings.from_env(env)


def test_metrics_port_defaults_differ_per_process_and_a_setting_wins() -> None:
    unset = Settings.from_env({})
    assert metrics_port(unset, WORKER_METRICS_PORT) != metrics_port(unset, DISPATCHER_METRICS_PORT)
    for value, expected in (("9100", 9100), ("0", 0)):
        chosen = Settings.from_env({"MTQ_METRICS_PORT": value})
        assert metrics_port(chosen, WORKER_METRICS_PORT) == expected
        assert metrics_port(chosen, DISPATCHER_METRICS_PORT) == expected


def test_parse_route() -> None:
    assert parse_route("pt-BR") == ("pt", "BR")
    with pytest.raises(ConfigError):
        parse_route("en-de-fr")


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    missing = [
        f"MTQ_{field.name.upper()}"
        for field in dataclasses.fields(Settings)
        if f"MTQ_{field.name.upper()}" not in readme
    ]
    assert not missing, f"README lacks {missing}"
