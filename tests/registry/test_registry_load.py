"""models:/ references against a real MLflow tracking server: resolved, downloaded once into
the version store, loaded through the same from_pretrained path, stamped with ``registry``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mtq.client.declare import declare_all
from mtq.core.contract import DecodeOptions
from mtq.core.errors import ConfigError
from mtq.core.events import RegistryRef
from mtq.core.settings import Settings
from tests.integration.helpers import events_by_job, make_job, publish_jobs, worker_settings
from tests.registry.conftest import Registered
from worker.app import Worker
from worker.engines import Engine, load_engine
from worker.engines.hf import HFEngine
from worker.engines.model_set import ModelSet
from worker.registry import store as store_module
from worker.registry.client import Registry
from worker.registry.loader import RegistryLoader

TEXTS = ["Hello world.", "How are you today?", "The cat sat on the mat."]
OPTIONS = DecodeOptions(beam_size=2, max_new_tokens=8)


def translate(engine: Engine) -> list[str]:
    return engine.decode(engine.generate(engine.encode(TEXTS), OPTIONS))


def settings_for(model: str, **changes: Any) -> Settings:
    return Settings(model=model, device="cpu", torch_threads=1, **changes)


def test_alias_resolves_to_a_transformers_flavor_version(
    champion: Registered, tmp_path: Path, engine: Engine
) -> None:
    loader = RegistryLoader(load_engine, cache=str(tmp_path), tracking_uri=champion.url)
    loaded = loader(settings_for(f"models:/{champion.name}@champion"))
    assert loaded.info.name == champion.name
    assert loaded.info.registry == RegistryRef(champion.name, "1", "champion",
                                               champion.run_ids["1"])
    assert loaded.info.to_json()["registry"] == {
        "name": champion.name, "version": "1", "alias": "champion",
        "run_id": champion.run_ids["1"]}
    assert loaded.info.revision == engine.info.revision  # the same weights, byte for byte
    assert translate(loaded) == translate(engine)
    assert (tmp_path / champion.name / "1" / "hf" / "config.json").is_file()


def test_fixed_version_of_a_plain_folder_loads_and_translates_differently(
    registered: Registered, tmp_path: Path, engine: Engine
) -> None:
    loader = RegistryLoader(load_engine, cache=str(tmp_path), tracking_uri=registered.url)
    loaded = loader(settings_for(f"models:/{registered.name}/2"))
    assert loaded.info.registry == RegistryRef(registered.name, "2", None,
                                               registered.run_ids["2"])
    direct = HFEngine(settings_for(str(registered.v2_folder)))
    assert translate(loaded) == translate(direct)
    assert translate(loaded) != translate(engine)


def test_a_version_is_downloaded_once(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"models:/{registered.name}/1"
    RegistryLoader(load_engine, cache=str(tmp_path), tracking_uri=registered.url)(
        settings_for(uri))

    def no_download(*args: object) -> Path:
        raise AssertionError("downloaded again")

    monkeypatch.setattr(Registry, "download", no_download)
    again = RegistryLoader(load_engine, cache=str(tmp_path), tracking_uri=registered.url)
    assert again(settings_for(uri)).info.registry is not None


def test_unknown_alias_or_version_is_a_configuration_error(
    registered: Registered, tmp_path: Path
) -> None:
    loader = RegistryLoader(load_engine, cache=str(tmp_path), tracking_uri=registered.url)
    for uri in (f"models:/{registered.name}@nobody", f"models:/{registered.name}/99",
                "models:/no-such-model/1"):
        with pytest.raises(ConfigError, match="cannot resolve"):
            loader(settings_for(uri))


def test_ctranslate2_converts_a_version_once(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ctranslate2")
    settings = settings_for(f"models:/{registered.name}/2", engine="ctranslate2",
                            compute_type="float32", inter_threads=1, intra_threads=1)
    loader = RegistryLoader(load_engine, cache=str(tmp_path), tracking_uri=registered.url)
    loaded = loader(settings)
    assert loaded.info.engine == "ctranslate2"
    assert loaded.info.registry is not None and loaded.info.registry.version == "2"
    converted = tmp_path / registered.name / "2" / "ct2" / "model.bin"
    assert converted.is_file()

    def no_conversion(*args: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(store_module, "_convert", no_conversion)
    again = RegistryLoader(load_engine, cache=str(tmp_path), tracking_uri=registered.url)
    assert translate(again(settings)) == translate(loaded)


@pytest.mark.integration
def test_worker_stamps_every_event_with_the_registry_version(
    champion: Registered, amqp_url: str, tmp_path: Path
) -> None:
    settings = worker_settings(amqp_url, Path("unused"), torch_threads=1).replace(
        model=f"models:/{champion.name}@champion")
    loader = RegistryLoader(load_engine, cache=str(tmp_path), tracking_uri=champion.url)
    models = ModelSet.load(settings, loader)
    asyncio.run(declare_all(settings))
    publish_jobs(amqp_url, [make_job(f"job-{i}", TEXTS[: i + 1], "https://x.example/h")
                            for i in range(3)])
    assert asyncio.run(Worker(settings, models).run(burst=True, health=False)) == 0
    events = events_by_job(amqp_url)
    assert len(events) == 3
    for event in events.values():
        assert event["type"] == "job.completed"
        assert event["model"]["name"] == champion.name
        assert event["model"]["registry"] == {
            "name": champion.name, "version": "1", "alias": "champion",
            "run_id": champion.run_ids["1"]}
