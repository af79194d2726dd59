"""The ``mtq`` entry point for the webhook commands (no broker needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def mtq(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("MTQ_")}
    return subprocess.run([sys.executable, "-m", "mtq", *args], cwd=REPO, env={**clean, **env},
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MTQ_WEBHOOK_SECRET is empty"),
        ({"MTQ_WEBHOOK_SECRET": "hunter2"}, "whsec_"),
        ({"MTQ_WEBHOOK_SECRET": "whsec_" + "QUJD" * 8, "MTQ_WEBHOOK_RETRY_SCHEDULE_S": "0"},
         "SCHEDULE"),
    ],
)
def test_dispatcher_refuses_to_start_without_a_good_config(env: dict[str, str],
                                                            message: str) -> None:
    # Checked before connecting: the broker URL points nowhere.
    result = mtq("--amqp-url", "amqp://guest:guest@127.0.0.1:1/", "dispatcher", **env)
    assert result.returncode == 2
    assert "configuration error" in result.stderr and message in result.stderr
    assert "hunter2" not in result.stderr


def test_check_command() -> None:
    refused = mtq("webhooks", "check", "http://169.254.169.254/latest/meta-data/")
    assert refused.returncode == 1 and "link-local" in refused.stderr
    allowed = mtq("webhooks", "check", "https://8.8.8.8/hook")
    assert allowed.returncode == 0 and "-> 8.8.8.8:443" in allowed.stdout
    exempt = mtq("webhooks", "check", "http://127.0.0.1/", MTQ_WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8")
    assert exempt.returncode == 0


def test_broker_down_is_a_clear_error() -> None:
    # MTQ_BROKER_WAIT_S=0: no waiting for the broker (tests/faults/test_broker_wait.py waits).
    result = mtq("--amqp-url", "amqp://guest:guest@127.0.0.1:1/", "dispatcher",
                 MTQ_WEBHOOK_SECRET="whsec_" + "QUJD" * 8, MTQ_METRICS_PORT="0",
                 MTQ_BROKER_WAIT_S="0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "mtq: no connection to RabbitMQ at amqp://127.0.0.1:1/%2F within 0s")
    assert "Traceback" not in result.stderr


def test_metrics_port_in_use_is_one_line_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # Checked before connecting: the broker URL points nowhere.
        result = mtq("--amqp-url", "amqp://guest:guest@127.0.0.1:1/", "dispatcher",
                     MTQ_WEBHOOK_SECRET="whsec_" + "QUJD" * 8, MTQ_METRICS_PORT=str(port))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"mtq: configuration error: MTQ_METRICS_PORT={port}: cannot serve metrics and probes "
        f"on port {port} (address already in use); set MTQ_METRICS_PORT to a free port, or 0 "
        "to turn them off"
    ]
