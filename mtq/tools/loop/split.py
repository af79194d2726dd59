"""``mtq split``: train/dev/test splits that grow with the data and stay disjoint.

An example's split depends only on a hash of its text (and the salt): sha256 of
``salt NUL source NUL target`` (or of the source alone with ``by="source"``, so every
translation of one sentence lands in the same split), read as a number in [0, 1), against the
cumulative shares in the order given. Adding examples never moves an old one; changing the
salt reshuffles everything; changing the shares moves only the examples between the old and
the new boundaries. Text is hashed after NFC normalisation and whitespace collapsing, so a
re-export with other spacing keeps its splits.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mtq.core.errors import ConfigError, InputError
from mtq.tools.loop.corpus import Example, Format, read_examples

Key = Literal["pair", "source"]
DEFAULT_SHARES = "train=0.98,dev=0.01,test=0.01"
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True)
class Shares:
    """Split names and their weights, in order (normalised to sum to 1)."""

    names: tuple[str, ...]
    fractions: tuple[float, ...]

    @classmethod
    def parse(cls, text: str) -> Shares:
        """``train=0.98,dev=0.01,test=0.01`` (any positive weights: ``train=98,test=2``)."""
        names: list[str] = []
        weights: list[float] = []
        for part in (p.strip() for p in text.split(",") if p.strip()):
            name, _, weight = part.partition("=")
            name = name.strip().lower()
            try:
                value = float(weight)
            except ValueError:
                value = -1.0
            if not name or set(name) - _NAME_CHARS or value <= 0 or name in names:
                raise ConfigError(f"--shares {text!r}: expected NAME=WEIGHT,… with distinct "
                                  "names (letters, digits, - and _) and positive weights, e.g. "
                                  f"{DEFAULT_SHARES}")
            names.append(name)
            weights.append(value)
        if len(names) < 2:
            raise ConfigError(f"--shares {text!r}: name at least two splits, e.g. "
                              f"{DEFAULT_SHARES}")
        total = sum(weights)
        return cls(tuple(names), tuple(w / total for w in weights))


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def position(example: Example, salt: str = "", by: Key = "pair") -> float:
    """Where the example falls in [0, 1): a pure function of its text and the salt."""
    key = _normal(example.source) if by == "source" else \
        f"{_normal(example.source)}\0{_normal(example.target)}"
    digest = hashlib.sha256(f"{salt}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(example: Example, shares: Shares, salt: str = "", by: Key = "pair") -> str:
    """The name of the split the example belongs to."""
    point = position(example, salt, by)
    edge = 0.0
    for name, fraction in zip(shares.names, shares.fractions, strict=True):
        edge += fraction
        if point < edge:
            return name
    return shares.names[-1]  # rounding: the sum of the fractions may fall short of 1.0


def split_file(source: Path, out_dir: Path, fmt: Format, shares: Shares, salt: str = "",
               by: Key = "pair") -> dict[str, int]:
    """Write ``out_dir/<split>.<fmt>`` for each split (lines copied verbatim, input order kept);
    examples per split. Files appear only when the whole input was read without error."""
    counts = _write(read_examples(source, fmt), out_dir, fmt, shares, salt, by)
    if not sum(counts.values()):
        raise InputError(f"{source}: no examples (the file is empty)")
    return counts


def _write(examples: Iterable[Example], out_dir: Path, fmt: Format, shares: Shares,
           salt: str, by: Key) -> dict[str, int]:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot create the output folder ({exc.strerror})") \
            from None
    counts = dict.fromkeys(shares.names, 0)
    staged = {name: tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, renamed)
        "w", encoding="utf-8", dir=out_dir, prefix=f".{name}.", delete=False)
        for name in shares.names}
    try:
        for example in examples:
            name = assign(example, shares, salt, by)
            staged[name].write(example.line + "\n")
            counts[name] += 1
        if not sum(counts.values()):
            return counts  # nothing written: the caller says why
        for name, file in staged.items():
            file.close()
            os.replace(file.name, out_dir / f"{name}.{fmt}")
    finally:
        for file in staged.values():
            file.close()
            Path(file.name).unlink(missing_ok=True)
    return counts
