"""``mtq gateway`` (the HTTP service) and ``mtq keys create|list|revoke`` (its API keys).

FastAPI and uvicorn are imported when the command runs: they are the ``gateway`` extra, and
the other commands work without them.
"""

from __future__ import annotations

import argparse
from types import FrameType

from mtq.core.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gateway = subparsers.add_parser(
        "gateway", help="serve the HTTP gateway (jobs API, DeepL and LibreTranslate endpoints)",
        description="The HTTP gateway: jobs API v1, DeepL- and LibreTranslate-compatible "
        "endpoints, /docs, /healthz, /readyz, /metrics. Needs MTQ_DATABASE_URL.")
    gateway.add_argument("--host", help="listen address (MTQ_GATEWAY_HOST)")
    gateway.add_argument("--port", type=int, help="HTTP port (MTQ_GATEWAY_PORT)")
    gateway.set_defaults(func=run_gateway)
    keys = subparsers.add_parser("keys", help="create, list and revoke gateway API keys",
                                 description="API keys of the HTTP gateway, per tenant; only "
                                 "a hash is stored (PostgreSQL, MTQ_DATABASE_URL).")
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="print a new key for a tenant")
    create.add_argument("--tenant", required=True, help="the tenant the key's jobs run as")
    create.set_defaults(func=run_create)
    actions.add_parser("list", help="list keys by prefix").set_defaults(func=run_list)
    revoke = actions.add_parser("revoke", help="revoke the key with this prefix")
    revoke.add_argument("prefix", help="the key's first 12 characters, as `list` shows them")
    revoke.set_defaults(func=run_revoke)


def run_gateway(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.core.errors import ConfigError

    try:
        import uvicorn

        from gateway.app import create_app, migrate_schema
    except ImportError as exc:
        raise ConfigError(f"mtq gateway needs the gateway extra (pip install 'mtq[gateway]'): "
                          f"{exc}") from None
    from gateway.settings import GatewaySettings

    config = GatewaySettings.from_env(host=args.host, port=args.port)
    if not settings.database_url:
        raise ConfigError("the gateway needs MTQ_DATABASE_URL (a PostgreSQL URL)")
    migrate_schema(settings, config)
    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            # uvicorn re-raises the signal once drained; a drained gateway exits 0 instead,
            # like mtq's workers and dispatchers.
            self._captured_signals.clear()

    app = create_app(settings, config)
    server = Server(uvicorn.Config(
        app, host=config.host, port=config.port, log_config=None,
        access_log=False, timeout_graceful_shutdown=int(config.sync_timeout_s) + 5))
    app.state.stop_server = lambda: setattr(server, "should_exit", True)
    server.run()
    if app.state.startup_error is not None:
        raise app.state.startup_error
    return 0 if server.started else 1


def _schema() -> str:
    from gateway.settings import GatewaySettings

    return GatewaySettings.from_env().db_schema


def run_create(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.keys import create_key
    from gateway.schema import connect

    with connect(settings.database_url) as conn:
        print(create_key(conn, _schema(), args.tenant))
    return 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.keys import list_keys
    from gateway.schema import connect

    with connect(settings.database_url) as conn:
        for prefix, tenant, created, revoked in list_keys(conn, _schema()):
            print(f"{prefix}…\t{tenant}\t{created}\t{'revoked' if revoked else 'active'}")
    return 0


def run_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.keys import revoke_key
    from gateway.schema import connect

    with connect(settings.database_url) as conn:
        count = revoke_key(conn, _schema(), args.prefix.rstrip("…"))
    print(f"revoked {count} key(s)")
    return 0 if count else 1
