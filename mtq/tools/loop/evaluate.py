"""``mtq evaluate MODEL_URI TESTSET``: a model version scored on a test set, through the
serving path, and the scores logged to the version's MLflow run.

The test set's sources go through a real worker and the real queues (``serving.py``), so the
score is the one clients get: same batching, same decoding defaults, same engine. The
translation cache is off for the run (a cached segment would be another version's), and so is
MTQ_CANARY (it would send jobs to another version); an alias is resolved once (no rollover
mid-evaluation). The events' ``model.registry`` says which version answered, and that
version's run receives the metrics (``tracking.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtq.core.errors import ConfigError, MtqError
from mtq.core.languages import parse_route
from mtq.core.settings import Settings
from mtq.tools.loop.corpus import Format, digest, load_examples
from mtq.tools.loop.scores import Scores, score
from mtq.tools.loop.serving import serve_test_set
from mtq.tools.loop.tracking import Tracking


@dataclass(frozen=True)
class Evaluation:
    model_uri: str
    testset: Path
    digest: str
    scores: Scores
    registry: dict[str, Any] | None  # the events' model.registry: the version that answered
    seconds: float
    run_id: str | None = None  # the MLflow run the scores were logged to


def pick_route(settings: Settings, flag: str | None) -> str:
    if flag:
        parse_route(flag)
        return flag
    if len(settings.routes) == 1:
        return settings.routes[0]
    raise ConfigError(f"MTQ_ROUTES names {len(settings.routes)} routes: say which language "
                      "pair the test set is with --route")


def run_worker(settings: Settings) -> int:
    """A worker on ``settings.model`` in burst mode, in this process (the real one)."""
    from worker.app import Worker
    from worker.engines import load_engine
    from worker.engines.model_set import ModelSet
    from worker.registry.loader import RegistryLoader

    loader = RegistryLoader(load_engine, cache=settings.registry_cache)
    models = ModelSet.load(settings, loader)
    return asyncio.run(Worker(settings, models, loader=loader).run(burst=True, health=False))


def evaluate(
    settings: Settings, model_uri: str, testset: Path, fmt: Format, route: str, *,
    job_segments: int = 16, on_event: Callable[[dict[str, Any]], None] = lambda e: None,
    worker: Callable[[Settings], int] = run_worker,
) -> Evaluation:
    """Translate the test set with ``model_uri`` and score it (nothing is logged yet)."""
    examples = load_examples(testset, fmt)
    started = time.monotonic()
    served_settings = settings.replace(model=model_uri, models=(), routes=(route,),
                                       metrics_port=0, cache="off", registry_poll_s=0,
                                       canary="")
    served = serve_test_set(served_settings, route, [e.source for e in examples],
                            job_segments=job_segments, run_worker=worker, on_event=on_event)
    scores = score(served.translations, [e.target for e in examples],
                   parse_route(route)[1], served.confidence)
    return Evaluation(model_uri, testset, digest(examples), scores,
                      served.model.get("registry"), time.monotonic() - started)


def log_to_registry(evaluation: Evaluation, tracking: Tracking) -> Evaluation:
    """Log the scores to the run of the version that answered; the evaluation with its run."""
    if evaluation.registry is None:
        raise MtqError(f"{evaluation.model_uri} is not a registry model (models:/NAME@ALIAS "
                       "or models:/NAME/VERSION): nothing to log the scores to")
    name, version = evaluation.registry["name"], evaluation.registry["version"]
    run_id = tracking.run_of(name, version)
    tags = {"testset": evaluation.testset.name, "signature": evaluation.scores.signature,
            "confidence": "present" if evaluation.scores.confidence else "absent"}
    tracking.log(run_id, evaluation.digest, evaluation.scores.metrics(), tags)
    return Evaluation(**{**evaluation.__dict__, "run_id": run_id})


def table(evaluation: Evaluation) -> str:
    """The report ``mtq evaluate`` prints."""
    registry = evaluation.registry
    answered = (f"models:/{registry['name']}/{registry['version']}" if registry
                else evaluation.model_uri)
    scores = evaluation.scores
    rows = [("model", evaluation.model_uri), ("answered by", answered),
            ("test set", f"{evaluation.testset} (digest {evaluation.digest}, "
                         f"{scores.segments} segments)"),
            ("chrF", f"{scores.chrf:.2f}"), ("BLEU", f"{scores.bleu:.2f}")]
    if scores.confidence:
        rows += [(f"confidence {k}", f"{v:.3f}") for k, v in scores.confidence.items()]
    else:
        rows.append(("confidence", "absent (the events carry no confidence)"))
    rows += [("seconds", f"{evaluation.seconds:.1f}"),
             ("logged to run", evaluation.run_id or "not logged")]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
