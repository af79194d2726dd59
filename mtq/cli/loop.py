"""``mtq split``, ``mtq evaluate`` and ``mtq promote``: the training loop's steps that an
orchestrator calls (the example DAG is ``deploy/airflow/mtq_training_loop.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path

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
