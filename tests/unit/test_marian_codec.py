"""The Marian shortcut gives exactly what the real MarianTokenizer gives, in and out."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer, MarianTokenizer

from mtq.tools.tiny_corpus import generated_sentences
from worker.engines.codec import decode_ids, encode_texts
from worker.engines.marian_codec import MarianCodec, marian_codec

AWKWARD = [
    "", " ", "  spaces around  ", "tab\tinside", "new\nline", "ümlaut café", "日本語のテキスト",
    "emoji 😀 here", "a </s> in the middle", "<unk>", "a<pad>b", ">>de<< Hallo Welt",
    ">> no code here", "<<>>", ">>fr<<", "x" * 600, "Price: $5.00 (incl. VAT)!", "  ",
    "Ünïcödé — “quotes” … and ‘more’", "<b>bold</b> markup", "{0} of {1} files",
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_path: Path) -> Any:
    loaded = AutoTokenizer.from_pretrained(str(tiny_model_path))
    assert type(loaded) is MarianTokenizer  # what the shortcut exists for
    return loaded


def _texts() -> list[str]:
    return [*generated_sentences(300, seed=7), *AWKWARD]


@pytest.mark.parametrize("add_special", [True, False])
def test_encode_equals_the_tokenizer(tokenizer: Any, add_special: bool) -> None:
    texts = _texts()
    random.Random(3).shuffle(texts)  # shortcut and fallback texts interleaved
    expected = tokenizer(texts, add_special_tokens=add_special, truncation=False)["input_ids"]
    assert MarianCodec(tokenizer).encode(texts, add_special) == [list(ids) for ids in expected]


def test_encode_falls_back_for_added_tokens_and_language_codes(tokenizer: Any) -> None:
    codec = MarianCodec(tokenizer)
    assert not codec._plain_text("a </s> b")
    assert not codec._plain_text(">>de<< Hallo")
    assert codec._plain_text(">> no code")
    assert codec._plain_text("plain words")


def test_decode_equals_the_tokenizer(tokenizer: Any) -> None:
    rng = random.Random(11)
    vocab = len(tokenizer.encoder)
    special = list(tokenizer.all_special_ids)
    rows = [list(ids) for ids in tokenizer(_texts())["input_ids"]]
    rows += [[rng.randrange(vocab) for _ in range(rng.randrange(0, 30))] for _ in range(300)]
    rows += [[rng.choice(special), *row[:5], rng.choice(special)] for row in rows[:50]]
    rows += [[], special, [tokenizer.pad_token_id] * 3]
    expected = tokenizer.batch_decode(rows, skip_special_tokens=True)
    assert MarianCodec(tokenizer).decode(rows) == expected


def test_decode_with_clean_up_on(tiny_model_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_path),
                                              clean_up_tokenization_spaces=True)
    rows = [list(ids) for ids in tokenizer(["Hello , world !", "it 's fine ."])["input_ids"]]
    rows += [[random.Random(n).randrange(len(tokenizer.encoder)) for _ in range(20)]
             for n in range(100)]
    assert MarianCodec(tokenizer).decode(rows) == tokenizer.batch_decode(
        rows, skip_special_tokens=True)


def test_the_engines_path_takes_the_shortcut_for_marian_only(tokenizer: Any) -> None:
    assert marian_codec(tokenizer) is marian_codec(tokenizer)  # built once per tokenizer
    assert marian_codec(object()) is None

    class Traced(MarianTokenizer):  # a subclass may change any step: not shortcut
        pass

    assert marian_codec(Traced.__new__(Traced)) is None
    texts = ["One sentence.", "a </s> b"]
    assert encode_texts(tokenizer, texts) == [
        list(ids) for ids in tokenizer(texts, truncation=False)["input_ids"]]
    rows = encode_texts(tokenizer, texts)
    assert decode_ids(tokenizer, rows) == tokenizer.batch_decode(rows, skip_special_tokens=True)
