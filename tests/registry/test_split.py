"""``mtq split``: an example's split is a function of its text, so a growing corpus keeps
every old example where it was; shares hold; bad files stop with one line."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtq.cli.main import main
from mtq.tools.loop.corpus import Example
from mtq.tools.loop.split import Shares, assign

TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1,
               max_size=30).filter(lambda t: t.strip() != "")
PAIRS = st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=40)


def _split(corpus: Path, out: Path, *flags: str) -> dict[str, list[str]]:
    assert main(["split", str(corpus), "--out", str(out), *flags]) == 0
    return {f.stem: f.read_text(encoding="utf-8").splitlines() for f in out.iterdir()}


def _where(splits: dict[str, list[str]]) -> dict[str, str]:
    return {line: name for name, lines in splits.items() for line in lines}


@settings(max_examples=25, deadline=None)
@given(old=PAIRS, new=PAIRS, seed=st.integers(0, 1000))
def test_a_growing_corpus_never_moves_an_example(
    old: list[tuple[str, str]], new: list[tuple[str, str]], seed: int
) -> None:
    old_lines = [f"{s}\t{t}" for s, t in old]
    grown = old_lines + [f"{s}\t{t}" for s, t in new]
    random.Random(seed).shuffle(grown)  # the new export is in another order, too
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "small.tsv").write_text("\n".join(old_lines) + "\n", encoding="utf-8")
        (root / "large.tsv").write_text("\n".join(grown) + "\n", encoding="utf-8")
        flags = ("--shares", "train=0.5,dev=0.25,test=0.25", "--salt", "s1")
        before = _split(root / "small.tsv", root / "a", *flags)
        after = _where(_split(root / "large.tsv", root / "b", *flags))
    assert sum(len(lines) for lines in before.values()) == len(old_lines)
    for name, lines in before.items():
        for line in lines:
            assert after[line] == name


def test_shares_hold_on_a_large_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"source": f"sentence {i}", "target": f"Satz {i}",
                                          "id": i}) + "\n" for i in range(20_000)))
    splits = _split(corpus, tmp_path / "out", "--shares", "train=0.9,dev=0.05,test=0.05")
    shares = {name: len(lines) / 20_000 for name, lines in splits.items()}
    assert shares == pytest.approx({"train": 0.9, "dev": 0.05, "test": 0.05}, abs=0.01)
    assert json.loads(splits["test"][0]).keys() == {"source", "target", "id"}  # kept verbatim


def test_salt_reshuffles_and_source_keys_keep_translations_together() -> None:
    shares = Shares.parse("train=1,test=1")
    examples = [Example(f"s{i}", f"t{i}", "") for i in range(200)]
    plain = [assign(e, shares) for e in examples]
    salted = [assign(e, shares, salt="other") for e in examples]
    assert plain != salted
    for i in range(50):
        variants = {assign(Example(f"s{i}", f"variant {j}", ""), shares, by="source")
                    for j in range(5)}
        assert len(variants) == 1
    # whitespace and Unicode normalisation do not move an example
    assert assign(Example("caf\u00e9  au lait", "x", ""), shares) == \
        assign(Example("cafe\u0301 au lait ", "x", ""), shares)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.tsv", None, "missing.tsv: no such file"),
    ("one.tsv", b"a\tb\nonly one column\n", "one.tsv:2: expected 2 tab-separated columns"),
    ("three.tsv", b"a\tb\tc\n", "three.tsv:1: expected 2 tab-separated columns (source, "
                                "target), found 3"),
    ("bad.jsonl", b'{"source": "a", "target": "b"}\n{nope\n', "bad.jsonl:2: not JSON"),
    ("list.jsonl", b"[1, 2]\n", "list.jsonl:1: expected a JSON object"),
    ("nosrc.jsonl", b'{"target": "b"}\n', "nosrc.jsonl:1: 'source' must be a string"),
    ("latin1.tsv", b"caf\xe9\tb\n", "latin1.tsv:1: not UTF-8 text"),
    ("empty.tsv", b"\n\n", "empty.tsv: no examples"),
    ("data.csv", b"a,b\n", "cannot tell the format"),
])
def test_bad_files_stop_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code = main(["split", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not list((tmp_path / "out").glob("*"))  # nothing written, not even a partial file


@pytest.mark.parametrize("shares", ["train=1", "train=1,train=2", "train=0,test=1",
                                    "train=x,test=1", "Tr ain=1,test=1"])
def test_bad_shares_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shares: str
) -> None:
    (tmp_path / "c.tsv").write_text("a\tb\n")
    assert main(["split", str(tmp_path / "c.tsv"), "--out", str(tmp_path), "--shares",
                 shares]) == 2
    assert "--shares" in capsys.readouterr().err

