"""``/metrics``, ``/healthz`` and ``/readyz`` on one small HTTP server thread.

Kubernetes probes and Prometheus hit this; it runs on its own thread so a busy event loop or
inference thread can never make a probe time out.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from mtq.core.errors import ConfigError
from mtq.core.settings import Settings

log = logging.getLogger(__name__)

Check = Callable[[], bool]
# Defaults when MTQ_METRICS_PORT is unset: different, so both processes fit on one host.
WORKER_METRICS_PORT = 9000
DISPATCHER_METRICS_PORT = 9001


def metrics_port(settings: Settings, default: int) -> int:
    """The port this process serves on: ``MTQ_METRICS_PORT``, else its own default; 0 is off."""
    return default if settings.metrics_port is None else settings.metrics_port


class HealthServer:
    """Serves the probes: each is healthy when all of its named checks pass."""

    def __init__(
        self, port: int, registry: CollectorRegistry, liveness: Mapping[str, Check],
        readiness: Mapping[str, Check], host: str = "0.0.0.0",
    ) -> None:
        self._registry = registry
        self._probes = {"/healthz": liveness, "/readyz": readiness}
        try:
            self._server = http.server.ThreadingHTTPServer((host, port), self._handler())
        except OSError as exc:
            raise ConfigError(
                f"MTQ_METRICS_PORT={port}: cannot serve metrics and probes on port {port} "
                f"({(exc.strerror or str(exc)).lower()}); set MTQ_METRICS_PORT to a free port, "
                "or 0 to turn them off"
            ) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mtq-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("metrics and probes on port %d", self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def probe(self, path: str) -> tuple[bool, dict[str, bool]]:
        results = {name: _safe(check) for name, check in self._probes[path].items()}
        return all(results.values()), results

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(owner._registry), CONTENT_TYPE_LATEST)
                elif path in owner._probes:
                    ok, results = owner.probe(path)
                    body = json.dumps({"ok": ok, "checks": results}).encode()
                    self._send(200 if ok else 503, body, "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _safe(check: Check) -> bool:
    try:
        return bool(check())
    except Exception:  # a failing check means "not healthy", never a crashed probe server
        log.exception("health check raised")
        return False
