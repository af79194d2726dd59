"""Fixtures of the cache tests: a Redis database of the test's own."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cache.redis_server import redis_database

_databases = itertools.count()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """An empty Redis database (the machine's, 8–15, or a private server), flushed afterwards."""
    with redis_database(tmp_path, next(_databases)) as url:
        yield url
