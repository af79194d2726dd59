"""``mtq split``, ``mtq evaluate`` and ``mtq promote``: the training loop's steps that an
orchestrator calls (the example DAG is ``deploy/airflow/mtq_training_loop.py``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mtq.core.errors import ConfigError
from mtq.core.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    split = subparsers.add_parser(
        "split", help="split parallel data into train/dev/test by a hash of each example",
        description="Write OUT/<split>.<tsv|jsonl> for each split. An example's split depends "
        "only on a hash of its text and the salt, so adding data never moves an example "
        "between splits. TSV lines are source<TAB>target; JSONL lines are objects with source "
        "and target.",
    )
    split.add_argument("input", type=Path, help="a .tsv or .jsonl file of parallel data")
    split.add_argument("--out", type=Path, required=True, help="folder for the split files")
    split.add_argument("--shares", default="train=0.98,dev=0.01,test=0.01",
                       help="NAME=WEIGHT,… in order (default: %(default)s)")
    split.add_argument("--salt", default="",
                       help="mixed into every hash; another salt is another split (default: "
                       "none). Keep it fixed for the life of a corpus")
    split.add_argument("--by", choices=("pair", "source"), default="pair",
                       help="hash source and target (pair, default) or the source alone, so "
                       "every translation of a sentence lands in one split")
    split.add_argument("--format", choices=("auto", "tsv", "jsonl"), default="auto")
    split.set_defaults(func=run_split)

    evaluate = subparsers.add_parser(
        "evaluate", help="score a model version on a test set through a real worker and queue",
        description="Publish the test set's sources as jobs to MTQ_AMQP_URL (a vhost of its "
        "own: no other worker or dispatcher), run a worker on MODEL_URI until they are "
        "answered, score the translations (chrF, BLEU; the confidence spread when events "
        "carry it) and log the scores to the version's MLflow run under "
        "eval.<testset digest>.<metric>.",
    )
    evaluate.add_argument("model_uri", help="models:/NAME@ALIAS or models:/NAME/VERSION")
    evaluate.add_argument("testset", type=Path, help=".tsv or .jsonl: source and reference")
    evaluate.add_argument("--route", help="language pair (default: the one of MTQ_ROUTES)")
    evaluate.add_argument("--format", choices=("auto", "tsv", "jsonl"), default="auto")
    evaluate.add_argument("--job-segments", type=int, default=16,
                          help="segments per job (default: %(default)s)")
    evaluate.add_argument("--no-log", dest="log", action="store_false",
                          help="print the scores without logging them to MLflow")
    evaluate.add_argument("--quiet", action="store_true", help="no progress")
    evaluate.set_defaults(func=run_evaluate)

    promote = subparsers.add_parser(
        "promote", help="move an alias to a candidate version only when it scores better",
        description="Compare the candidate with the version the alias points at, on the same "
        "test set, using the scores mtq evaluate logged (with --testset, a missing score is "
        "evaluated first). Exit status: 0 the alias moved (or already pointed at the "
        "candidate), 3 the candidate did not beat the holder (alias kept), 1 registry or "
        "evaluation error, 2 bad flags or files.",
    )
    promote.add_argument("name", help="registered model name")
    promote.add_argument("--alias", default="champion", help="alias to move (default: "
                         "%(default)s)")
    promote.add_argument("--candidate", required=True, help="version to promote")
    promote.add_argument("--if-better", dest="metric", choices=("chrF", "BLEU"),
                         default="chrF", help="the score compared (default: %(default)s)")
    promote.add_argument("--min-delta", type=float, default=0.0,
                         help="the candidate must win by more than this (default: 0)")
    promote.add_argument("--testset", type=Path,
                         help="the test set (default: the one both versions were scored on)")
    promote.add_argument("--route", help="language pair, to evaluate missing scores")
    promote.add_argument("--format", choices=("auto", "tsv", "jsonl"), default="auto")
    promote.set_defaults(func=run_promote)


def run_split(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.tools.loop.corpus import detect_format
    from mtq.tools.loop.split import Shares, split_file

    shares = Shares.parse(args.shares)
    fmt = detect_format(args.input, args.format)
    counts = split_file(args.input, args.out, fmt, shares, salt=args.salt, by=args.by)
    total = sum(counts.values())
    for name, count in counts.items():
        print(f"{name:>8} {count:9d}  {100 * count / total:5.1f}%  {args.out / f'{name}.{fmt}'}")
    return 0


class Progress:
    """Segments answered: tqdm's line on a terminal, else a line every 15 s (an orchestrator's
    log)."""

    def __init__(self, total: int, quiet: bool) -> None:
        self._total = total
        self._done = 0
        self._quiet = quiet
        self._started = self._said = time.monotonic()
        self._bar = tqdm(total=total, desc="evaluated", unit=" segments", file=sys.stderr,
                         disable=quiet or not sys.stderr.isatty())

    def __call__(self, event: dict[str, Any]) -> None:
        answered = len(event.get("translations") or event.get("segments") or [])
        self._done += answered
        self._bar.update(answered)
        now = time.monotonic()
        if self._bar.disable and not self._quiet and now - self._said >= 15:
            self._said = now
            rate = self._done / max(now - self._started, 1e-9)
            print(f"evaluated {self._done}/{self._total} segments "
                  f"({100 * self._done / self._total:.0f}%, {rate:.1f}/s)", file=sys.stderr)

    def close(self) -> None:
        self._bar.close()


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.tools.loop.corpus import detect_format, load_examples
    from mtq.tools.loop.evaluate import evaluate, log_to_registry, pick_route, table
    from mtq.tools.loop.tracking import Tracking

    if args.job_segments < 1:
        raise ConfigError("--job-segments must be at least 1")
    if args.log and not args.model_uri.startswith("models:/"):
        raise ConfigError(f"{args.model_uri} is not a registry model, so there is no run to "
                          "log to: name models:/NAME@ALIAS or models:/NAME/VERSION, or pass "
                          "--no-log")
    fmt = detect_format(args.testset, args.format)
    route = pick_route(settings, args.route)
    progress = Progress(len(load_examples(args.testset, fmt)), args.quiet)
    try:
        evaluation = evaluate(settings, args.model_uri, args.testset, fmt, route,
                              job_segments=args.job_segments, on_event=progress)
    finally:
        progress.close()
    if args.log:
        evaluation = log_to_registry(evaluation, Tracking())
    print(table(evaluation))
    return 0


KEPT = 3  # mtq promote: the candidate did not beat the holder; the alias stays


def run_promote(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.tools.loop.corpus import detect_format, digest, load_examples
    from mtq.tools.loop.evaluate import evaluate, log_to_registry, pick_route
    from mtq.tools.loop.promote import Request, Scorer, promote
    from mtq.tools.loop.tracking import Tracking

    if args.min_delta < 0:
        raise ConfigError("--min-delta must be 0 or more")
    tracking = Tracking()
    request = Request(args.name, args.alias, args.candidate, args.metric, args.min_delta)
    testset_digest: str | None = None
    scorer: Scorer | None = None  # without a test set, only logged scores are compared
    if args.testset is not None:
        fmt = detect_format(args.testset, args.format)
        testset_digest = digest(load_examples(args.testset, fmt))
        route = pick_route(settings, args.route)

        def evaluate_version(version: str) -> float:
            print(f"evaluating version {version} of {args.name} on {args.testset}",
                  file=sys.stderr)
            found = log_to_registry(evaluate(settings, f"models:/{args.name}/{version}",
                                             args.testset, fmt, route), tracking)
            return float(found.scores.metrics()[args.metric])

        scorer = evaluate_version
    decision = promote(tracking, request, testset_digest, scorer)
    print(decision.reason)
    return KEPT if decision.kept else 0
