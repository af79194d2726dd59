"""A multilingual worker end to end on the real broker: every job in its own target language.

Jobs of several pairs are published together to one worker on a tiny multilingual model;
each translation must equal the raw reference decoding that segment alone with the model's
documented language handling (``tokenizer.src_lang``, ``forced_bos_token_id``), and a pair
the model lacks must be refused at admission. A second worker serves two models at once.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from mtq.client.declare import declare_all
from mtq.core.settings import Settings
from tests.harness.env import child_env
from tests.integration.helpers import events_by_job, make_job
from tests.multilingual.conftest import (
    BEAM,
    MAX_NEW_TOKENS,
    PAIRS,
    HFReference,
    Item,
    mixed_items,
)
from tests.multilingual.helpers import (
    CALLBACK,
    jobs_for,
    publish,
    run_worker,
    settings_for,
    translate_all,
)
from worker.engines.hf import HFEngine

pytestmark = pytest.mark.integration
ROUTES = tuple(f"{s}-{t}" for s, t in PAIRS)


def test_each_job_is_translated_into_its_own_target_language(
    amqp_url: str, model_path: Path, kind: str
) -> None:
    settings = settings_for(amqp_url, model=str(model_path), routes=ROUTES)
    items = mixed_items(20)
    jobs = jobs_for(items)
    assert len({(j["source_lang"], j["target_lang"]) for j in jobs}) >= 3
    events = translate_all(settings, jobs)

    reference = HFReference(model_path, kind)
    for job in jobs:
        event = events[job["job_id"]]
        assert event["model"]["name"] == model_path.name
        expected = [
            reference.translate(Item(text, job["source_lang"], job["target_lang"]))[0]
            for text in job["segments"]
        ]
        assert event["translations"] == expected, job["job_id"]


def test_a_pair_the_model_lacks_is_refused_at_admission(
    amqp_url: str, multilingual_models: dict[str, Path]
) -> None:
    model = multilingual_models["m2m100"]  # no Traditional Chinese, no "xx"
    routes = ("en-de", "en-zh_Hant", "en-xx")
    settings = settings_for(amqp_url, model=str(model), routes=routes)
    asyncio.run(declare_all(settings))
    jobs = [
        make_job(f"job-{r}", ["The queue is long."], CALLBACK, source_lang=r.split("-")[0],
                 target_lang=r.split("-")[1], options={"max_new_tokens": 4})
        for r in routes
    ]
    publish(amqp_url, jobs)

    run_worker(settings)

    events = events_by_job(amqp_url)
    assert events["job-en-de"]["type"] == "job.completed"
    for refused in ("job-en-zh_Hant", "job-en-xx"):
        assert events[refused]["type"] == "job.failed"
        assert events[refused]["error"]["code"] == "unsupported_language_pair"
        assert events[refused]["metadata"] == {"job": refused}


def test_one_worker_serves_a_bilingual_and_a_multilingual_model(
    amqp_url: str, tiny_model_path: Path, multilingual_models: dict[str, Path]
) -> None:
    nllb = multilingual_models["nllb"]
    settings = settings_for(
        amqp_url, models=(f"en-de={tiny_model_path}", f"*={nllb}"), routes=("en-fr", "de-fr"),
    )
    text = "Every worker reads the same queue."
    jobs = [
        make_job(f"job-{s}-{t}", [text], CALLBACK, source_lang=s, target_lang=t,
                 options={"beam_size": BEAM, "max_new_tokens": MAX_NEW_TOKENS})
        for s, t in (("en", "de"), ("en", "fr"), ("de", "fr"))
    ]
    asyncio.run(declare_all(settings.replace(routes=("en-de", "en-fr", "de-fr"))))
    publish(amqp_url, jobs)

    run_worker(settings)

    events = events_by_job(amqp_url)
    assert events["job-en-de"]["model"]["name"] == tiny_model_path.name
    assert events["job-en-fr"]["model"]["name"] == nllb.name
    assert events["job-de-fr"]["model"]["name"] == nllb.name
    marian = HFEngine(Settings(model=str(tiny_model_path), device="cpu", dtype="float32"))
    from mtq.core.contract import DecodeOptions

    alone = marian.generate(marian.encode([text]), DecodeOptions(BEAM, MAX_NEW_TOKENS))
    assert events["job-en-de"]["translations"] == marian.decode(alone)
    reference = HFReference(nllb, "nllb")
    assert events["job-en-fr"]["translations"] == [reference.translate(Item(text, "en", "fr"))[0]]
    assert events["job-de-fr"]["translations"] == [reference.translate(Item(text, "de", "fr"))[0]]


def test_the_worker_command_serves_mtq_models(
    amqp_url: str, tiny_model_path: Path, multilingual_models: dict[str, Path]
) -> None:
    """``mtq topology`` and ``mtq worker`` as an operator runs them, routes from MTQ_MODELS."""
    nllb = multilingual_models["nllb"]
    env = child_env({
        "MTQ_AMQP_URL": amqp_url, "MTQ_MODELS": f"en-de={tiny_model_path} *={nllb}",
        "MTQ_ROUTES": "en-fr en-pt_BR", "MTQ_METRICS_PORT": "0", "MTQ_DEVICE": "cpu",
        "MTQ_TORCH_THREADS": "1", "MTQ_BATCH_MAX_WAIT_MS": "20",
    })
    mtq = [sys.executable, "-m", "mtq", "--log-level", "WARNING"]
    subprocess.run([*mtq, "topology"], env=env, check=True, timeout=120)
    jobs = [
        make_job(f"job-{t}", ["The model serves every pair."], CALLBACK, source_lang="en",
                 target_lang=t, options={"beam_size": BEAM, "max_new_tokens": MAX_NEW_TOKENS})
        for t in ("de", "fr", "pt_BR")
    ]
    publish(amqp_url, jobs)

    subprocess.run([*mtq, "worker", "--burst", "--no-auto-budget"], env=env, check=True,
                   timeout=600)

    events = events_by_job(amqp_url)
    assert {j: e["type"] for j, e in events.items()} == dict.fromkeys(
        ["job-de", "job-fr", "job-pt_BR"], "job.completed")
    assert events["job-de"]["model"]["name"] == tiny_model_path.name
    assert events["job-pt_BR"]["model"]["name"] == nllb.name
    reference = HFReference(nllb, "nllb")
    text = jobs[2]["segments"][0]
    assert events["job-pt_BR"]["translations"] == [
        reference.translate(Item(text, "en", "pt_BR"))[0]
    ]
