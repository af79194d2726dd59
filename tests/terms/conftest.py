"""Fixtures for the terminology tests: a PostgreSQL schema of its own per test, the tiny model
converted for CTranslate2."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

DATABASE_URL = os.environ.get("MTQ_TEST_DATABASE_URL",
                              "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def glossary_db() -> Iterator[tuple[str, str]]:
    """(database URL, a schema name used by this test only), the schema dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"mtq_terms_test_{uuid.uuid4().hex[:10]}"
    try:
        conn = psycopg.connect(DATABASE_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"no local PostgreSQL for the glossary tests ({DATABASE_URL}): {exc}")
    try:
        yield DATABASE_URL, schema
    finally:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.close()


@pytest.fixture(scope="session")
def terms_ct2_model(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model converted with ``mtq convert`` (float32 weights)."""
    pytest.importorskip("ctranslate2", reason="needs pip install 'mtq[ctranslate2]'")
    from mtq.tools.convert import convert_model

    destination = tmp_path_factory.mktemp("terms-ct2") / "tiny-ct2"
    convert_model(tiny_model_path, destination)
    return destination
