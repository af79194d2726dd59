"""Several models behind one worker (worker/engines/model_set.py), on the real tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtq.core.contract import DecodeOptions, Job
from mtq.core.settings import Settings
from worker.batching.items import WorkItem
from worker.batching.scheduler import Scheduler
from worker.engines.languages import BILINGUAL
from worker.engines.model_set import ModelDecodeOptions, ModelSet

OPTIONS = DecodeOptions(2, 6)


def job(source: str, target: str) -> Job:
    return Job("j", source, target, ("Hello world.",), "https://client.example/h", OPTIONS)


@pytest.fixture(scope="module")
def models(tiny_model_path: Path, multilingual_models: dict[str, Path]) -> ModelSet:
    settings = Settings(
        models=(f"en-de={tiny_model_path}", f"*={multilingual_models['nllb']}"),
        routes=("en-fr", "de-fr", "en-xx"), device="cpu", dtype="float32", torch_threads=1,
    )
    return ModelSet.load(settings)


def test_routes_come_from_the_table(models: ModelSet) -> None:
    assert models.routes == ("en-de", "en-fr", "de-fr", "en-xx")
    assert len(models.engines) == 2


def test_each_job_gets_its_model_and_its_language_tokens(
    models: ModelSet, tiny_model_path: Path
) -> None:
    bilingual = models.serve(job("en", "de"))
    assert bilingual is not None and bilingual.pair is BILINGUAL
    assert bilingual.engine.info.name == tiny_model_path.name
    en_fr, de_fr = models.serve(job("en", "fr")), models.serve(job("de", "fr"))
    assert en_fr is not None and de_fr is not None
    assert en_fr.model == de_fr.model != bilingual.model
    assert en_fr.pair.target_prefix == de_fr.pair.target_prefix  # both into French
    assert en_fr.pair.source_prefix != de_fr.pair.source_prefix
    assert en_fr.options(OPTIONS) == de_fr.options(OPTIONS) != bilingual.options(OPTIONS)


def test_unservable_pairs_are_none_with_a_clear_message(models: ModelSet) -> None:
    assert models.serve(job("en", "xx")) is None
    assert "en-xx" in models.unsupported(job("en", "xx"))
    assert models.serve(job("en", "es")) is None  # not a route of this worker


def test_batches_form_per_model_and_across_pairs() -> None:
    scheduler = Scheduler(token_budget=10_000, max_batch_segments=64, max_wait_s=0.0)
    nllb, marian = ModelDecodeOptions(2, 6, "nllb"), ModelDecodeOptions(2, 6, "marian")
    scheduler.add("en-fr", nllb, [WorkItem(0, [5] * 4)], now=0.0)
    scheduler.add("de-fr", nllb, [WorkItem(0, [6] * 4)], now=0.0)
    scheduler.add("en-es", nllb, [WorkItem(0, [7] * 5)], now=0.0)
    scheduler.add("en-de", marian, [WorkItem(0, [8] * 4)], now=0.0)
    first, second = scheduler.next_batch(1.0), scheduler.next_batch(1.0)
    assert first is not None and second is not None and scheduler.next_batch(1.0) is None
    assert {s.job_key for s in first.segments} == {"en-fr", "de-fr", "en-es"}
    assert first.options == nllb
    assert [s.job_key for s in second.segments] == ["en-de"]


def test_generate_runs_each_batch_on_its_model(models: ModelSet) -> None:
    served = models.serve(job("en", "fr"))
    assert served is not None
    sources = served.encode(["Hello world."])
    options = served.options(OPTIONS)
    ours = models.generate(sources, options, prefixes=[served.pair.target_prefix])
    theirs = served.engine.generate(sources, options, prefixes=[served.pair.target_prefix])
    assert ours == theirs
    assert ours[0][1] == served.pair.target_prefix[0]
