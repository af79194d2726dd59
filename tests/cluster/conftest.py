"""The cluster tests start their own three-node RabbitMQ cluster (tests/cluster/cluster.py)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: starts a private three-node RabbitMQ cluster on this machine"
    )
