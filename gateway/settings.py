"""The gateway's own settings (``MTQ_GATEWAY_*``), read once by ``mtq gateway``.

Kept apart from :class:`mtq.core.settings.Settings`, which the gateway also reads (broker,
database, routes, job limits): these knobs mean nothing to workers and dispatchers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from mtq.core.settings.values import EnvSource, config_error


class GatewaySettings(BaseSettings):
    """Field ``foo`` is read from ``MTQ_GATEWAY_FOO`` by :meth:`from_env` only."""

    model_config = SettingsConfigDict(env_prefix="MTQ_GATEWAY_", frozen=True, extra="forbid")

    host: str = Field("0.0.0.0", description="address the HTTP server listens on")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port (API, /docs, probes, "
                      "/metrics)")
    db_schema: str = Field("mtq_gateway", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                           description="PostgreSQL schema of the gateway's tables")
    rate_per_s: float = Field(20.0, gt=0, description="requests per second each API key may "
                              "make, per gateway replica (a token bucket)")
    burst: int = Field(40, ge=1, description="requests a key may make at once before "
                       "the rate applies")
    sync_timeout_s: float = Field(30.0, gt=0, description="how long a /v2/translate or "
                                  "/translate request waits for its translation; then 503 "
                                  "with Retry-After")
    max_waiting: int = Field(512, ge=1, description="translation requests one replica "
                             "waits on at once; more are answered 429 with Retry-After")
    db_pool: int = Field(8, ge=1, description="PostgreSQL connections per replica")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            error = config_error(exc, values, type(self).model_fields)
            raise type(error)(str(error).replace("MTQ_", "MTQ_GATEWAY_", 2)) from None

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 **overrides: Any) -> GatewaySettings:
        values = EnvSource(cls, os.environ if environ is None else environ)()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
