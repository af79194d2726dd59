"""Parallel data: one example (source, target) per line, as TSV or JSONL.

TSV is ``source<TAB>target``; JSONL is an object with string ``source`` and ``target`` (other
keys are kept when a file is copied, e.g. by ``mtq split``). Anything else stops the command
with one line naming the file, the line and what was expected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mtq.core.errors import ConfigError, InputError

Format = Literal["tsv", "jsonl"]
_SUFFIXES: dict[str, Format] = {".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Example:
    source: str
    target: str
    line: str  # the line as read, without its newline: copied verbatim by mtq split


def detect_format(path: Path, given: str = "auto") -> Format:
    if given in ("tsv", "jsonl"):
        return "tsv" if given == "tsv" else "jsonl"
    try:
        return _SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise ConfigError(
            f"{path}: cannot tell the format from the name; use .tsv (source<TAB>target) or "
            ".jsonl ({\"source\": …, \"target\": …}), or pass --format"
        ) from None


def read_examples(path: Path, fmt: Format) -> Iterator[Example]:
    """The file's examples in order; blank lines are skipped; ConfigError on a bad line."""
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        parse = _tsv if fmt == "tsv" else _jsonl
        source, target = parse(line, f"{path}:{number}")
        yield Example(source, target, line)


def load_examples(path: Path, fmt: Format) -> list[Example]:
    examples = list(read_examples(path, fmt))
    if not examples:
        raise InputError(f"{path}: no examples (the file is empty)")
    return examples


def _lines(path: Path) -> Iterator[str]:
    try:
        with path.open("rb") as file:
            for number, raw in enumerate(file, start=1):
                try:
                    yield raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as exc:
                    raise InputError(f"{path}:{number}: not UTF-8 text ({exc.reason} at "
                                      f"byte {exc.start})") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None


def _tsv(line: str, where: str) -> tuple[str, str]:
    columns = line.split("\t")
    if len(columns) != 2:
        raise InputError(f"{where}: expected 2 tab-separated columns (source, target), "
                          f"found {len(columns)}")
    return columns[0], columns[1]


def _jsonl(line: str, where: str) -> tuple[str, str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object with source and target")
    fields = [record.get("source"), record.get("target")]
    for name, value in zip(("source", "target"), fields, strict=True):
        if not isinstance(value, str):
            raise InputError(f"{where}: {name!r} must be a string, found "
                              f"{type(value).__name__ if value is not None else 'nothing'}")
    return str(fields[0]), str(fields[1])


def digest(examples: Iterable[Example]) -> str:
    """What names a test set: sha256 of its (source, target) pairs in order, whatever the
    file's format or name; the first 12 hex digits."""
    hasher = hashlib.sha256()
    for example in examples:
        hasher.update(json.dumps([example.source, example.target], ensure_ascii=False).encode())
        hasher.update(b"\n")
    return hasher.hexdigest()[:12]
