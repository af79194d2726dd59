"""``mtq submit`` under a broker resource alarm: one line naming the alarm, never a hang.

The alarm is raised on a RabbitMQ node of the test's own (``tests/cluster/cluster.py``, one
node on free ports, its own data folder), never on the machine's shared broker: a memory
watermark of 0.0000001 makes the node block every publishing connection.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mtq.client.broker import connect_blocking
from tests.cluster.cluster import RabbitCluster
from tests.harness import child_env

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fault]
BLOCKED_S = 5


def mtq(*args: str, amqp_url: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mtq", *args], capture_output=True, text=True,
                          timeout=timeout, check=False,
                          env=child_env({"MTQ_AMQP_URL": amqp_url, "MTQ_ROUTES": "en-de"}))


def test_submit_under_a_memory_alarm_exits_with_one_line(tmp_path: Path) -> None:
    text = tmp_path / "input.txt"
    text.write_text("Hello world.\nGood morning.\n", encoding="utf-8")
    submit = ("submit", str(text), "--job-id", "alarm-1", "--route", "en-de",
              "--callback-url", "https://client.example/hooks/mt")
    with RabbitCluster(tmp_path / "rabbit", size=1) as cluster:
        node = cluster.nodes[0]
        assert mtq("topology", amqp_url=node.url()).returncode == 0
        assert mtq(*submit, amqp_url=node.url()).returncode == 0  # no alarm: published

        cluster.ctl(node, "set_vm_memory_high_watermark", "0.0000001")
        result = mtq(*submit, amqp_url=f"{node.url()}?blocked_connection_timeout={BLOCKED_S}")

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"mtq: RabbitMQ at 127.0.0.1:{node.amqp_port} blocked publishing for {BLOCKED_S}s: "
        "a memory alarm (low on memory); nothing more was published."), lines[0]


def test_console_connections_give_up_after_a_minute_blocked(amqp_url: str) -> None:
    connection = connect_blocking(amqp_url, "mtq-test")
    try:
        assert connection._impl.params.blocked_connection_timeout == 60
    finally:
        connection.close()
    connection = connect_blocking(f"{amqp_url}?blocked_connection_timeout=7", "mtq-test")
    try:
        assert connection._impl.params.blocked_connection_timeout == 7
    finally:
        connection.close()
