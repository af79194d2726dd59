"""Settings: env parsing, validation with clear messages, and docs that match the code."""

from __future__ import annotations

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


def test_a_wrong_value_is_one_line_naming_the_variable_the_value_and_what_it_takes() -> None:
    cases = {
        "MTQ_PREFETCH": ("abc", "MTQ_PREFETCH='abc': MTQ_PREFETCH must be at least 1 (an integer)"),
        "MTQ_CACHE_SCOPE": ("all", "MTQ_CACHE_SCOPE='all': MTQ_CACHE_SCOPE must be 'shared' or "
                                   "'tenant'"),
        "MTQ_DEDUP": ("maybe", "MTQ_DEDUP='maybe': MTQ_DEDUP must be true or false (1/0, yes/no, "
                               "on/off)"),
        "MTQ_TENANT_WEIGHTS": ("acme", "MTQ_TENANT_WEIGHTS='acme': 'acme' must look like "
                                       "'tenant=2' (a positive weight)"),
        "MTQ_AMQP_URL": ("http://x", "MTQ_AMQP_URL='http://x': 'http://x' is not an amqp:// or "
                                     "amqps:// URL"),
    }
    for variable, (value, message) in cases.items():
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({variable: value})
        assert str(caught.value) == message
    window = r"^MTQ_PREFETCH_MAX=512: .* at least MTQ_PREFETCH \(600\)$"
    with pytest.raises(ConfigError, match=window):
        Settings.from_env({"MTQ_PREFETCH": "600"})
    assert Settings.from_env({"MTQ_PREFETCH": "600", "MTQ_INTAKE_SEGMENTS": "0"}).prefetch == 600


def test_every_way_of_building_settings_validates() -> None:
    with pytest.raises(ConfigError, match="MTQ_PREFETCH=0: MTQ_PREFETCH must be at least 1"):
        Settings(prefetch=0)
    with pytest.raises(ConfigError, match="MTQ_ENGINE='onnx'"):
        Settings().replace(engine="onnx")
    with pytest.raises(ConfigError, match="MTQ_PREFECH is not a setting"):  # a typo in code
        Settings().replace(prefech=4)
    with pytest.raises(ConfigError, match="MTQ_DEVICE='tpu'"):  # a flag is checked like a variable
        Settings.from_env({}, device="tpu")
    changed = Settings().replace(prefetch=3, routes=["en-fr"])
    assert (changed.prefetch, changed.routes) == (3, ("en-fr",))


def test_settings_without_from_env_read_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTQ_PREFETCH", "3")
    assert Settings().prefetch == 16
    assert Settings(batch_tokens=100).prefetch == 16
    assert Settings.from_env().prefetch == 3


def test_values_are_read_like_before() -> None:
    settings = Settings.from_env({
        "MTQ_PREFETCH": "  ",  # blank or empty: unset
        "MTQ_MODEL": "",
        "MTQ_DEDUP": "off",
        "MTQ_WEBHOOK_ALLOW_NETWORKS": "10.0.0.0/8,192.168.0.0/16",
        "MTQ_NOT_A_SETTING": "x",  # ignored, as any other variable
    })
    assert (settings.prefetch, settings.model, settings.dedup) == (16, "", False)
    assert settings.webhook_allow_networks == ("10.0.0.0/8", "192.168.0.0/16")
    for word, value in (("1", True), ("yes", True), ("ON", True), ("0", False), ("no", False)):
        assert Settings.from_env({"MTQ_DEDUP": word}).dedup is value
    assert Settings.from_env({"MTQ_TENANT_WEIGHTS": "acme=3 trial=0.5"}).tenant_weights_map() == {
        "acme": 3.0, "trial": 0.5,
    }


def test_every_setting_is_described() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def _readme_defaults() -> dict[str, str]:
    """``MTQ_NAME`` -> the default the README's settings table shows (a row may name two)."""
    section = README.read_text(encoding="utf-8").split("\n## Settings\n", 1)[1]
    shown: dict[str, str] = {}
    for line in section.split("\n## ", 1)[0].splitlines():
        if not line.startswith("| `MTQ_"):
            continue
        names, defaults = (cell.strip().split(" / ") for cell in line.split("|")[1:3])
        if len(names) > 1:  # `MTQ_A` / `MTQ_B` | `4` / `8`
            assert len(defaults) == len(names), line
        else:
            defaults = [" / ".join(defaults)]
        for name, default in zip(names, defaults, strict=True):
            shown[name.strip("`")] = default
    return shown


def _as_shown(default: object) -> str:
    """A default as the README writes it: `10` for 10.0, `true`, lists space-separated."""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, tuple):
        return " ".join(_as_shown(item) for item in default)
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def _normal(cell: str) -> str:
    text = cell.strip("`")
    if text in ("—", "empty"):
        return ""
    try:
        return _as_shown(float(text))  # `0.10` is 0.1
    except ValueError:
        return text


def test_the_readme_table_has_every_setting_with_its_default() -> None:
    shown = _readme_defaults()
    variables = {f"MTQ_{name.upper()}": field for name, field in Settings.model_fields.items()}
    assert sorted(variables.keys() - shown.keys()) == [], "settings without a README row"
    assert sorted(shown.keys() - variables.keys()) == [], "README rows of no setting"
    # MTQ_METRICS_PORT's default is None: each process picks its own port (mtq/core/health.py),
    # and the row shows both, so it is checked against those instead.
    ports = shown.pop("MTQ_METRICS_PORT")
    assert f"`{WORKER_METRICS_PORT}`" in ports and f"`{DISPATCHER_METRICS_PORT}`" in ports
    wrong = {
        variable: (default, _as_shown(variables[variable].default))
        for variable, default in shown.items()
        if _normal(default) != _as_shown(variables[variable].default)
    }
    assert wrong == {}, "README default differs from the model's: (README, model)"
