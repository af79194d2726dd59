"""Fixtures: the tiny multilingual models (M2M100 and NLLB shaped), built once per session.

Raw ``transformers`` references live here too: they decode one segment at a time with each
family's documented language handling (``tokenizer.src_lang = ...`` and
``forced_bos_token_id``), the yardstick every multilingual test compares mtq against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mtq.tools.tiny_corpus import generated_sentences
from mtq.tools.tiny_model import build_tiny_model

KINDS = ("m2m100", "nllb")
# Short tags as jobs carry them -> the family's own code, as its model card documents.
FLORES = {"en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn", "es": "spa_Latn",
          "zh": "zho_Hans", "pt_BR": "por_Latn", "zh_Hant": "zho_Hant"}
PAIRS = (("en", "de"), ("de", "fr"), ("en", "fr"), ("fr", "es"), ("en", "zh"))
BEAM = 4
MAX_NEW_TOKENS = 10  # random weights rarely say </s>: keep CPU decoding short


@pytest.fixture(scope="session", params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def multilingual_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("multilingual")
    return {k: build_tiny_model(root / f"tiny-{k}", kind=k) for k in KINDS}


@pytest.fixture(scope="session")
def model_path(multilingual_models: dict[str, Path], kind: str) -> Path:
    return multilingual_models[kind]


@dataclass(frozen=True)
class Item:
    text: str
    source: str
    target: str


def mixed_items(count: int, seed: int = 11) -> list[Item]:
    """``count`` segments spread over :data:`PAIRS`, the same sentence under several pairs."""
    texts = list(generated_sentences(count, seed))
    return [
        Item(texts[i // 2], *PAIRS[i % len(PAIRS)]) for i in range(count)
    ]


def model_code(kind: str, tag: str) -> str:
    """The code a user of the raw model would pass: ``de`` for M2M100, ``deu_Latn`` for NLLB."""
    return tag if kind == "m2m100" else FLORES[tag]


def forced_bos(kind: str, tokenizer: Any, tag: str) -> int:
    if kind == "m2m100":
        return int(tokenizer.get_lang_id(tag))
    return int(tokenizer.convert_tokens_to_ids(FLORES[tag]))


class HFReference:
    """The model card's way: one segment at a time, src_lang set, target forced as BOS."""

    def __init__(self, path: Path, kind: str) -> None:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.kind = kind
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(path).eval()

    def source_ids(self, item: Item) -> list[int]:
        self.tokenizer.src_lang = model_code(self.kind, item.source)
        return list(self.tokenizer(item.text)["input_ids"])

    def translate(self, item: Item, max_new_tokens: int = MAX_NEW_TOKENS) -> tuple[str, list[int]]:
        import torch

        self.tokenizer.src_lang = model_code(self.kind, item.source)
        inputs = self.tokenizer(item.text, return_tensors="pt")
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, forced_bos_token_id=forced_bos(self.kind, self.tokenizer, item.target),
                num_beams=BEAM, max_new_tokens=max_new_tokens, do_sample=False,
            )
        return self.tokenizer.decode(output[0], skip_special_tokens=True), output[0].tolist()


def translations(reference: HFReference, items: Sequence[Item]) -> list[str]:
    return [reference.translate(item)[0] for item in items]
