"""Stored glossaries on the real PostgreSQL and the real broker: the CLI, versions reaching a
running worker, the cache kept apart per version, glossaries a job cannot use."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mtq.cli.main import main
from mtq.client.glossaries import admin
from mtq.client.glossaries.schema import MIGRATIONS, migrate
from mtq.core.terms import TermEntry
from tests.cache.test_cache_worker import running, settings_for
from worker.engines.hf import HFEngine
from worker.terms import GlossaryCache

pytestmark = pytest.mark.integration
CALLBACK = "https://client.example/hooks/mt"
TBX = """<?xml version="1.0" encoding="UTF-8"?>
<martif type="TBX" xml:lang="en"><text><body>
<termEntry id="1"><langSet xml:lang="en"><tig><term>checkout</term></tig></langSet>
<langSet xml:lang="de-DE"><tig><term>Kasse</term></tig></langSet></termEntry>
<termEntry id="2"><langSet xml:lang="en"><tig><term>Acme Cloud</term>
<termNote type="translationNote">no</termNote></tig></langSet></termEntry>
</body></text></martif>
"""


def cli(monkeypatch: pytest.MonkeyPatch, db: tuple[str, str], *args: str) -> int:
    monkeypatch.setenv("MTQ_DATABASE_URL", db[0])
    monkeypatch.setenv("MTQ_GLOSSARY_SCHEMA", db[1])
    return main(["--log-level", "WARNING", "glossary", *args])


@pytest.mark.parametrize("suffix, body", [
    ("tsv", "source\ttarget\ncheckout\tKasse\nAcme Cloud\n"),
    ("csv", 'source,target\ncheckout,Kasse\n"Acme Cloud",\n'),
    ("tbx", TBX),
])
def test_the_cli_stores_tsv_csv_and_tbx_files_as_versions(
    glossary_db: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], suffix: str, body: str,
) -> None:
    path = tmp_path / f"shop.{suffix}"
    path.write_text(body)
    assert cli(monkeypatch, glossary_db, "create", "shop", str(path), "--route", "en-de",
               "--tenant", "acme") == 0
    assert cli(monkeypatch, glossary_db, "create", "shop", str(path), "--route", "en-de",
               "--tenant", "acme") == 0
    assert "version 2: 2 entries" in capsys.readouterr().out
    assert cli(monkeypatch, glossary_db, "list") == 0
    assert "acme\tshop\ten-de\tv2\t2 entries" in capsys.readouterr().out
    assert cli(monkeypatch, glossary_db, "show", "shop", "--tenant", "acme", "--version",
               "1") == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["checkout\tKasse",
                                                        "Acme Cloud\tAcme Cloud"]
    assert cli(monkeypatch, glossary_db, "show", "shop") == 1  # another tenant's
    assert cli(monkeypatch, glossary_db, "delete", "shop", "--tenant", "acme") == 0
    assert cli(monkeypatch, glossary_db, "delete", "shop", "--tenant", "acme") == 1


@pytest.mark.parametrize("body, message", [
    ("checkout\tKasse\ncheckout\tBezahlen\n", "entry 2 ('checkout') : 'checkout' is also"),
    ("a\tb\tc\n", "line 1: 3 columns"),
    ("\n", "the glossary has no entries"),
])
def test_the_cli_refuses_a_bad_glossary_naming_the_entry(
    glossary_db: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], body: str, message: str,
) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(body)
    assert cli(monkeypatch, glossary_db, "create", "bad", str(path), "--route", "en-de") == 2
    assert message.replace(" : ", ": ") in capsys.readouterr().err


def test_migrations_are_versioned_and_applied_once(glossary_db: tuple[str, str]) -> None:
    with admin.connect(glossary_db[0]) as conn:
        assert migrate(conn, glossary_db[1]) == len(MIGRATIONS)
        assert migrate(conn, glossary_db[1]) == len(MIGRATIONS)
        rows = conn.execute(f"SELECT version FROM {glossary_db[1]}.schema_migrations").fetchall()
    assert [r[0] for r in rows] == [v for v, _ in MIGRATIONS]


def test_the_cache_rereads_a_glossary_only_when_its_version_changed(
    glossary_db: tuple[str, str]
) -> None:
    url, schema = glossary_db

    async def scenario() -> None:
        cache = GlossaryCache(url, schema, ttl_s=0)
        assert await cache.get("", "shop") is None  # no schema yet: no glossary
        with admin.connect(url) as conn:
            admin.create(conn, "", "shop", ("en", "de"), [TermEntry("a", "b")], schema)
        first = await cache.get("", "shop")
        assert first is not None and first.version == 1
        assert (await cache.get("", "shop")) is first and cache.reads == 1
        with admin.connect(url) as conn:
            admin.create(conn, "", "shop", ("en", "de"), [TermEntry("a", "c")], schema)
        second = await cache.get("", "shop")
        assert second is not None and second.version == 2 and cache.reads == 2
        assert second.entries == (TermEntry("a", "c"),)
        await cache.aclose()

    asyncio.run(scenario())


def _job(job_id: str, segments: list[str], **options: Any) -> dict[str, Any]:
    return {"job_id": job_id, "source_lang": "en", "target_lang": "de", "segments": segments,
            "callback_url": CALLBACK, "tenant": "acme",
            "options": {"beam_size": 2, "max_new_tokens": 8, **options}}


def test_a_new_version_reaches_a_running_worker_and_never_meets_a_stale_cache_entry(
    amqp_url: str, tiny_model_path: Path, glossary_db: tuple[str, str]
) -> None:
    url, schema = glossary_db
    engine = HFEngine(settings_for(amqp_url, tiny_model_path, torch_threads=1))
    settings = settings_for(amqp_url, tiny_model_path, database_url=url,
                            glossary_schema=schema, glossary_ttl_s=0)
    segments = ["Go to checkout now.", "Nothing here."]
    with admin.connect(url) as conn:
        admin.create(conn, "acme", "shop", ("en", "de"), [TermEntry("checkout", "Kasse")],
                     schema)

    async def scenario() -> None:
        async with running(settings, engine) as run:
            (v1,) = await run.submit([_job("v1", segments, glossary_id="shop")])
            (again,) = await run.submit([_job("again", segments, glossary_id="shop")])
            with admin.connect(url) as conn:
                admin.create(conn, "acme", "shop", ("en", "de"),
                             [TermEntry("checkout", "Bezahlseite")], schema)
            (v2,) = await run.submit([_job("v2", segments, glossary_id="shop")])
            (inline,) = await run.submit([_job("inline", segments, glossary=[
                {"source": "checkout", "target": "Bezahlseite"}])])
            (plain,) = await run.submit([_job("plain", segments)])
            (bad,) = await run.submit([_job("unknown", segments, glossary_id="nope")])
        assert v1["glossary"] == {"id": "shop", "version": 1}
        assert "Kasse" in v1["translations"][0] and v1["terms"][0][0]["target"] == "Kasse"
        assert again["stats"]["cached_segments"] == 2  # same glossary version: cache hits
        assert again["translations"] == v1["translations"]
        assert v2["glossary"] == {"id": "shop", "version": 2}
        assert v2["stats"]["cached_segments"] == 0  # a new version is a new key
        assert "Bezahlseite" in v2["translations"][0] and "Kasse" not in v2["translations"][0]
        assert inline["stats"]["cached_segments"] == 0 and "glossary" not in inline
        assert plain["stats"]["cached_segments"] == 0 and "terms" not in plain
        assert bad["type"] == "job.failed" and bad["error"]["code"] == "invalid_job"
        assert "no glossary 'nope' for tenant 'acme'" in bad["error"]["message"]

    asyncio.run(scenario())


def test_a_glossary_id_without_a_store_or_for_another_pair_is_an_invalid_job(
    amqp_url: str, tiny_model_path: Path, glossary_db: tuple[str, str]
) -> None:
    url, schema = glossary_db
    engine = HFEngine(settings_for(amqp_url, tiny_model_path, torch_threads=1))
    with admin.connect(url) as conn:
        admin.create(conn, "acme", "shop-fr", ("en", "fr"), [TermEntry("a", "b")], schema)

    async def scenario() -> None:
        stored = settings_for(amqp_url, tiny_model_path, database_url=url,
                              glossary_schema=schema)
        async with running(stored, engine) as run:
            (other,) = await run.submit([_job("other", ["a"], glossary_id="shop-fr")])
        async with running(settings_for(amqp_url, tiny_model_path), engine) as run:
            (none,) = await run.submit([_job("none", ["a"], glossary_id="shop")])
        assert other["error"] == {"code": "invalid_job", "message":
                                  "options.glossary_id: 'shop-fr' is for en-fr, not en-de"}
        assert none["error"]["code"] == "invalid_job"
        assert "no glossary store (MTQ_DATABASE_URL)" in none["error"]["message"]

    asyncio.run(scenario())
