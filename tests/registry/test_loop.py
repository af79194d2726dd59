"""``mtq evaluate``, ``mtq promote`` and MTQ_CANARY against a real tracking server, broker
and worker.

The test set's references are version 1's own translations (under the decoding defaults the
evaluation worker uses), so version 1 scores 100 and version 2, which translates differently,
scores less: what is measured is what the serving path answered, version by version.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mtq.cli.main import main
from mtq.client.declare import declare_all
from mtq.core.contract import DecodeOptions
from mtq.core.model_routes import canary_point
from mtq.core.settings import Settings
from mtq.tools.loop.corpus import digest, load_examples
from mtq.tools.loop.tracking import Tracking, metric_key
from tests.harness import publish_jobs
from tests.integration.helpers import events_by_job, make_job, worker_settings
from tests.registry.conftest import Registered
from tests.registry.test_rollover import RunningWorker, wait_for
from worker.app import Worker
from worker.engines import Engine, load_engine
from worker.engines.hf import HFEngine
from worker.engines.model_set import ModelSet
from worker.registry.loader import RegistryLoader

pytestmark = pytest.mark.integration
SOURCES = ["Hello world.", "How are you today?", "The cat sat on the mat.",
           "Send the report by Friday.", "Rain is expected tomorrow.", "Where is the station?",
           "I like green tea.", "The meeting starts at nine.", "Please close the door.",
           "Our office moved last year.", "Prices rose in March.", "She reads every night."]
DECODING = DecodeOptions(beam_size=2, max_new_tokens=8)


@pytest.fixture(scope="module")
def testset(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    references = engine.decode(engine.generate(engine.encode(SOURCES), DECODING))
    assert all(r.strip() for r in references)
    path = tmp_path_factory.mktemp("testset") / "test.tsv"
    path.write_text("".join(f"{s}\t{r}\n" for s, r in zip(SOURCES, references, strict=True)))
    return path


@pytest.fixture(scope="module")
def registry_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry-cache")


@pytest.fixture
def loop_env(champion: Registered, amqp_url: str, registry_cache: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Registered]:
    env = {"MLFLOW_TRACKING_URI": champion.url, "MTQ_AMQP_URL": amqp_url,
           "MTQ_REGISTRY_CACHE": str(registry_cache), "MTQ_DEVICE": "cpu",
           "MTQ_TORCH_THREADS": "1", "MTQ_BATCH_MAX_WAIT_MS": "5",
           "MTQ_DEFAULT_BEAM_SIZE": str(DECODING.beam_size),
           "MTQ_DEFAULT_MAX_NEW_TOKENS": str(DECODING.max_new_tokens),
           # set on purpose: an evaluation never canaries (version 1 must answer every job)
           "MTQ_CANARY": f"models:/{champion.name}@challenger:0.99"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield champion


def logged(registered: Registered, version: str, testset: Path) -> dict[str, float]:
    tracking = Tracking(registered.url)
    found = digest(load_examples(testset, "tsv"))
    return tracking.logged(registered.run_ids[version], found)


def test_evaluate_serves_scores_and_logs_to_the_versions_run(
    loop_env: Registered, testset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = loop_env.name
    assert main(["evaluate", f"models:/{name}@champion", str(testset), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^answered by +models:/{name}/1$", out, re.MULTILINE), out
    assert "chrF" in out and loop_env.run_ids["1"] in out
    first = logged(loop_env, "1", testset)
    assert first["chrF"] == pytest.approx(100.0) and first["BLEU"] == pytest.approx(100.0)
    assert first["segments"] == len(SOURCES)
    run = Tracking(loop_env.url)._client.get_run(loop_env.run_ids["1"])
    tag = run.data.tags[metric_key(digest(load_examples(testset, "tsv")), "confidence")]
    # confidence is reported exactly when the events carry it
    assert (tag == "present") == ("confidence_p50" in first)
    assert ("absent" in out) == (tag == "absent")

    assert main(["evaluate", f"models:/{name}/2", str(testset), "--quiet"]) == 0
    second = logged(loop_env, "2", testset)
    assert second["chrF"] < first["chrF"]


def test_promote_moves_only_a_better_candidate_and_says_why(
    loop_env: Registered, testset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = loop_env.name
    tracking = Tracking(loop_env.url)
    # version 2 is worse on this test set: the alias stays on 1 (scores evaluated if missing)
    code = main(["promote", name, "--alias", "champion", "--candidate", "2",
                 "--if-better", "chrF", "--testset", str(testset)])
    out = capsys.readouterr().out
    assert code == 3, out
    assert "kept champion" in out and "does not beat" in out
    assert tracking.holder(name, "champion") == "1"
    # the other way round: champion on 2, candidate 1 wins, from the logged scores alone
    loop_env.move_alias("2")
    assert main(["promote", name, "--candidate", "1"]) == 0
    out = capsys.readouterr().out
    assert "moved champion" in out and "from version 2 to 1" in out
    assert tracking.holder(name, "champion") == "1"
    assert main(["promote", name, "--candidate", "1"]) == 0
    assert "already on version 1" in capsys.readouterr().out
    # an alias nobody holds yet goes to the candidate
    assert main(["promote", name, "--alias", "challenger", "--candidate", "2"]) == 0
    assert tracking.holder(name, "challenger") == "2"


def test_an_unknown_version_is_one_line(
    loop_env: Registered, testset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["promote", loop_env.name, "--candidate", "99"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"mtq: models:/{loop_env.name}/99:") and err.count("\n") == 1
    # a version that does not exist cannot be evaluated: one line, nothing left running
    assert main(["evaluate", f"models:/{loop_env.name}/99", str(testset), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"cannot resolve models:/{loop_env.name}/99" in err and "Traceback" not in err
    assert not [t for t in threading.enumerate() if t.name == "mtq-evaluate-results"]


def test_evaluate_refuses_a_vhost_in_use(
    loop_env: Registered, testset: Path, amqp_url: str, capsys: pytest.CaptureFixture[str]
) -> None:


    asyncio.run(declare_all(Settings(amqp_url=amqp_url)))
    publish_jobs(amqp_url, [make_job("someone-elses", ["Hi."], "https://x.example/h")])
    assert main(["evaluate", f"models:/{loop_env.name}/1", str(testset)]) == 2
    err = capsys.readouterr().err
    assert "mtq.jobs.en-de has 0 consumer(s) and 1 message(s)" in err
    assert err.count("\n") == 1


def test_a_canary_job_goes_to_the_challenger_and_is_stamped(
    champion: Registered, amqp_url: str, registry_cache: Path, engine: Engine
) -> None:
    champion.move_alias("2", alias="challenger")
    name = champion.name
    settings = worker_settings(amqp_url, Path("unused"), torch_threads=1).replace(
        model=f"models:/{name}@champion", canary=f"models:/{name}@challenger:0.5",
        registry_poll_s=0)
    loader = RegistryLoader(load_engine, cache=str(registry_cache), tracking_uri=champion.url)
    asyncio.run(declare_all(settings))
    ids = [f"canary-{n}" for n in range(20)]
    to_canary = next(i for i in ids if canary_point(i) < 0.5)
    to_champion = next(i for i in ids if canary_point(i) >= 0.5)
    running = RunningWorker(Worker(settings, ModelSet.load(settings, loader), loader=loader))
    running.thread.start()
    try:
        publish_jobs(amqp_url, [make_job(i, SOURCES[:3], "https://x.example/h")
                                for i in (to_canary, to_champion)])
        events: dict[str, dict[str, Any]] = {}
        wait_for(lambda: (events.update(events_by_job(amqp_url)), len(events) == 2)[1],
                 "both jobs' events", 120)
    finally:
        running.stop()
    challenger = HFEngine(Settings(model=str(champion.v2_folder)))
    options = DecodeOptions(beam_size=2, max_new_tokens=8)  # make_job's
    for engine_used, job_id in ((challenger, to_canary), (engine, to_champion)):
        expected = engine_used.decode(engine_used.generate(engine_used.encode(SOURCES[:3]),
                                                           options))
        assert events[job_id]["translations"] == expected
    assert events[to_canary]["model"]["registry"] == {
        "name": name, "version": "2", "alias": "challenger", "run_id": champion.run_ids["2"],
        "role": "canary"}
    assert events[to_champion]["model"]["registry"] == {
        "name": name, "version": "1", "alias": "champion", "run_id": champion.run_ids["1"]}


def test_shadow_translates_again_drops_and_exports_agreement(
    champion: Registered, amqp_url: str, registry_cache: Path, engine: Engine
) -> None:
    champion.move_alias("2", alias="challenger")
    name = champion.name
    settings = worker_settings(amqp_url, Path("unused"), torch_threads=1).replace(
        model=f"models:/{name}@champion", shadow=f"models:/{name}@challenger:0.5",
        registry_poll_s=0)
    loader = RegistryLoader(load_engine, cache=str(registry_cache), tracking_uri=champion.url)
    asyncio.run(declare_all(settings))
    ids = [f"shadow-{n}" for n in range(12)]
    shadowed = [i for i in ids if canary_point(i) < 0.5]
    assert 0 < len(shadowed) < len(ids)
    running = RunningWorker(Worker(settings, ModelSet.load(settings, loader), loader=loader))
    running.thread.start()
    registry = running.worker.registry
    try:
        publish_jobs(amqp_url, [make_job(i, SOURCES[:3], "https://x.example/h") for i in ids])
        events: dict[str, dict[str, Any]] = {}
        wait_for(lambda: (events.update(events_by_job(amqp_url)), len(events) == len(ids))[1],
                 "every job's event", 120)
        wait_for(lambda: (registry.get_sample_value("mtq_shadow_jobs_total") or 0)
                 >= len(shadowed), "the shadow to compare its share", 120)
    finally:
        running.stop()
    expected = engine.decode(engine.generate(engine.encode(SOURCES[:3]),
                                             DecodeOptions(beam_size=2, max_new_tokens=8)))
    for event in events.values():  # clients see the champion only
        assert event["translations"] == expected
        assert event["model"]["registry"]["version"] == "1"
        assert "role" not in event["model"]["registry"]
    assert registry.get_sample_value("mtq_shadow_jobs_total") == len(shadowed)
    assert registry.get_sample_value("mtq_shadow_segments_total") == 3 * len(shadowed)
    assert registry.get_sample_value("mtq_shadow_dropped_total") == 0
    count = registry.get_sample_value("mtq_shadow_chrf_count")
    total = registry.get_sample_value("mtq_shadow_chrf_sum")
    assert count == len(shadowed) and total is not None and total < 100 * count  # v2 differs
    deltas = registry.get_sample_value("mtq_shadow_confidence_delta_count")
    assert deltas == 3 * len(shadowed)  # one confidence difference per segment
    # Both tiny models run every output to the token cap: each side flags every segment.
    for side in ("champion", "challenger"):
        assert registry.get_sample_value("mtq_shadow_warnings_total",
                                         {"side": side, "code": "truncated"}) == deltas
