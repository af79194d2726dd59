"""The ASGI application: its parts started and stopped with it, routes, offline docs, probes.

Everything a request needs lives in PostgreSQL or RabbitMQ, so replicas are interchangeable.
The docs page loads Swagger UI from the installed ``swagger-ui-py`` package: it works
with no internet access.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from psycopg_pool import AsyncConnectionPool

from gateway.access import Access, RateLimiter
from gateway.api import deepl, jobs, libre
from gateway.broker import Publisher
from gateway.errors import GatewayError, render
from gateway.feed import Feed
from gateway.metrics import GatewayMetrics
from gateway.schema import connect, migrate, notify_channel
from gateway.service import Gateway
from gateway.settings import GatewaySettings
from gateway.store import Store
from gateway.waiters import Waiters
from mtq.client.broker_wait import wait_for_broker
from mtq.client.connect import connect_robust
from mtq.core.contract import JobLimits
from mtq.core.errors import MtqError
from mtq.core.settings import Settings

log = logging.getLogger(__name__)
DOCS_ASSETS = "/docs-assets"


def migrate_schema(settings: Settings, config: GatewaySettings) -> None:
    """Bring the gateway's tables up to date (before serving: a failure is one line)."""
    with connect(settings.database_url) as conn:
        version = migrate(conn, config.db_schema)
    log.info("gateway: database schema %s at version %d", config.db_schema, version)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    stack = contextlib.AsyncExitStack()
    try:
        await stack.enter_async_context(_parts(app))
    except MtqError as exc:
        # Not a traceback from the server: the CLI reports it in one line once it stopped.
        app.state.startup_error = exc
        app.state.stop_server()
    async with stack:
        yield


@contextlib.asynccontextmanager
async def _parts(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    config: GatewaySettings = app.state.config
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.database_url, min_size=1, max_size=config.db_pool, open=False,
        kwargs={"autocommit": True})
    await pool.open(wait=True, timeout=30)
    stop = asyncio.Event()
    # A broker that is down at start is waited for, like the worker and dispatcher do.
    connection = await wait_for_broker(
        lambda: connect_robust(settings.amqp_url, "mtq-gateway"), amqp_url=settings.amqp_url,
        wait_s=settings.broker_wait_s, max_delay_s=settings.reconnect_max_delay_s)
    assert connection is not None  # no stop event: it connects or raises
    try:
        store = Store(pool, config.db_schema)
        publisher = Publisher(connection)
        await publisher.start()
        waiters = Waiters(settings.database_url, notify_channel(config.db_schema))
        listener = asyncio.create_task(waiters.run(stop))
        access = Access(store.key_tenant, RateLimiter(config.rate_per_s, config.burst))
        feed = Feed(connection, store)
        await feed.start()
        app.state.gateway = Gateway(settings, config, store, publisher, waiters, access,
                                    JobLimits.from_settings(settings))
        app.state.ready = lambda: (feed.consuming and waiters.listening.is_set()
                                   and not connection.is_closed)
        yield
    finally:
        stop.set()
        if "listener" in locals():
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await connection.close()
        await pool.close()


def _docs(app: FastAPI) -> None:
    # Swagger UI 5 (OpenAPI 3.1, which FastAPI writes) as shipped in the swagger-ui-py wheel.
    assets = importlib.resources.files("swagger_ui") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="mtq gateway",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png")


def _probes(app: FastAPI, metrics: GatewayMetrics) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> PlainTextResponse:
        ready = getattr(request.app.state, "ready", None)
        if ready is not None and ready():
            return PlainTextResponse("ready")
        return PlainTextResponse("not ready", status_code=503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_page() -> Response:
        body, kind = metrics.exposition()
        return Response(body, media_type=kind)


def create_app(settings: Settings, config: GatewaySettings) -> FastAPI:
    app = FastAPI(title="mtq gateway", version="1", lifespan=_lifespan, docs_url=None,
                  redoc_url=None, description="Jobs API v1 with status and cancel, and "
                  "DeepL- and LibreTranslate-compatible endpoints, over mtq's workers.")
    app.state.settings = settings
    app.state.config = config
    app.state.startup_error = None
    app.state.stop_server = lambda: None  # the CLI points it at its server
    metrics = GatewayMetrics()

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        return render(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"][1:]) or "body"
        return render(request, GatewayError(400, "invalid_request", f"{where}: {first['msg']}"))

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        metrics.observe(request, response.status_code)
        return response

    for router in (jobs.router, deepl.router, libre.router):
        app.include_router(router)
    _docs(app)
    _probes(app, metrics)
    return app
