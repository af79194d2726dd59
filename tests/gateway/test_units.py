"""The gateway's pure parts: the rate limit, language codes, what a final event counts as
done, settings errors. Milliseconds, no services."""

from __future__ import annotations

import pytest

from gateway.access import RateLimiter
from gateway.api.langs import deepl_code, libre_code, resolve, tag_of
from gateway.feed import final_done
from gateway.settings import GatewaySettings
from mtq.core.errors import ConfigError


def test_the_rate_limit_is_a_token_bucket_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_s=2, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") is None  # another key has its own bucket
    now[0] = 0.5
    assert limiter.take("a") is None
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] = 100.0  # idleness refills up to the burst only
    assert [limiter.take("a") is None for _ in range(4)] == [True, True, True, False]


def test_codes_map_onto_served_routes() -> None:
    assert [tag_of(c) for c in ("DE", "PT-BR", "pt-BR", "ZH-HANS", "es_419")] == [
        "de", "pt_BR", "pt_BR", "zh_Hans", "es_419"]
    routes = ("en-de", "en-pt_BR", "de-en")
    assert resolve(routes, "EN", "DE") == ("en", "de")
    assert resolve(routes, "EN", "PT-BR") == ("en", "pt_BR")
    assert resolve(routes, "DE", "EN-GB") == ("de", "en")  # the variant falls back to its base
    assert resolve(routes, "EN", "PT-PT") is None
    assert resolve(routes, "FR", "DE") is None
    assert (deepl_code("pt_BR"), libre_code("pt_BR"), deepl_code("zh_Hans")) == (
        "PT-BR", "pt-BR", "ZH-HANS")


def test_final_events_count_what_was_translated() -> None:
    assert final_done("job.completed", {"translations": ["a", "b"]}) == 2
    assert final_done("job.cancelled", {"translations": ["a", None, "c", None]}) == 2
    assert final_done("job.failed", {"error": {"code": "invalid_job"}}) is None


def test_a_wrong_gateway_setting_is_one_line_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"^MTQ_GATEWAY_RATE_PER_S='-1': MTQ_GATEWAY_RATE_PER_S"):
        GatewaySettings.from_env({"MTQ_GATEWAY_RATE_PER_S": "-1"})
    assert GatewaySettings.from_env({"MTQ_GATEWAY_PORT": "9"}).port == 9
