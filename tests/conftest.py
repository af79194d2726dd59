"""Shared fixtures: a private RabbitMQ vhost per test, a real loopback webhook receiver.

The helpers behind them live in :mod:`tests.harness` (shared with the benchmarks).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    BrokerUnavailable,
    LoopbackReceiver,
    amqp_url_for,
    create_vhost,
    delete_vhost,
)


@pytest.fixture
def amqp_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh vhost named after the test, deleted afterwards with everything in it."""
    name = f"mtq-test-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"
    try:
        create_vhost(name)
    except BrokerUnavailable as exc:
        pytest.fail(f"no local RabbitMQ for the test's vhost: {exc}")
    try:
        yield amqp_url_for(name)
    finally:
        delete_vhost(name)


@pytest.fixture
def webhook_receiver() -> Iterator[LoopbackReceiver]:
    """A loopback receiver answering 200; ``.received`` holds the requests answered 2xx."""
    with LoopbackReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, built once per test session (or taken from MTQ_TEST_TINY_MODEL)."""
    from mtq.tools.tiny_model import build_tiny_model

    preset = os.environ.get("MTQ_TEST_TINY_MODEL")
    if preset and (Path(preset) / "config.json").exists():
        return Path(preset)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def trained_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged model trained on the synthetic pair (its translations are right),
    copied once per test session the way ``mtq tiny-model --kind trained`` copies it."""
    from mtq.tools.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("trained-model"), kind="trained")


@pytest.fixture(scope="module")
def engine(tiny_model_path: Path) -> Any:
    """The tiny model's HF engine, loaded once per module (tests of other models define
    their own ``engine``)."""
    from mtq.core.settings import Settings
    from worker.engines.hf import HFEngine

    return HFEngine(Settings(model=str(tiny_model_path)))
