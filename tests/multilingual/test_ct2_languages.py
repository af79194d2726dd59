"""Per-job languages in the CTranslate2 engine after ``mtq convert``.

The reference is CTranslate2's documented multilingual use, one segment at a time: source
tokens from the tokenizer with ``src_lang`` set, the target language as ``target_prefix``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mtq.core.contract import DecodeOptions
from tests.multilingual.conftest import (
    BEAM,
    MAX_NEW_TOKENS,
    Item,
    mixed_items,
    model_code,
)

ctranslate2 = pytest.importorskip("ctranslate2", reason="needs pip install 'mtq[ctranslate2]'")

from transformers import AutoTokenizer  # noqa: E402

from mtq.tools.convert import convert_model  # noqa: E402
from tests.multilingual.helpers import jobs_for, settings_for, translate_all  # noqa: E402
from worker.engines.ct2 import CTranslate2Engine  # noqa: E402


@pytest.fixture(scope="module")
def converted(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp("ct2") / model_path.name
    convert_model(model_path, destination)
    return destination


@pytest.fixture(scope="module")
def engine(converted: Path) -> CTranslate2Engine:
    return CTranslate2Engine.from_folder(
        converted, compute_type="float32", inter_threads=1, intra_threads=1, device="cpu"
    )


def reference(converted: Path, kind: str, items: list[Item]) -> tuple[list[str], list[Any]]:
    tokenizer = AutoTokenizer.from_pretrained(converted)
    translator = ctranslate2.Translator(str(converted), device="cpu", compute_type="float32",
                                        intra_threads=1)
    texts, hypotheses = [], []
    for item in items:
        tokenizer.src_lang = model_code(kind, item.source)
        source = tokenizer.convert_ids_to_tokens(tokenizer(item.text)["input_ids"])
        target = tokenizer.convert_ids_to_tokens(
            tokenizer.convert_tokens_to_ids(_token(kind, item.target))
        )
        result = translator.translate_batch(
            [source], target_prefix=[[target]], beam_size=BEAM, max_decoding_length=MAX_NEW_TOKENS
        )[0].hypotheses[0]
        hypotheses.append(result)
        texts.append(tokenizer.decode(tokenizer.convert_tokens_to_ids(result),
                                      skip_special_tokens=True))
    return texts, hypotheses


def _token(kind: str, tag: str) -> str:
    return f"__{tag}__" if kind == "m2m100" else model_code(kind, tag)


def test_a_mixed_pair_batch_equals_ctranslate2_one_segment_at_a_time(
    engine: CTranslate2Engine, converted: Path, kind: str
) -> None:
    items = mixed_items(10)
    sources, prefixes = [], []
    for item in items:
        pair = engine.languages.pair(item.source, item.target)
        assert pair is not None
        sources.append(engine.encode([item.text], pair)[0])
        prefixes.append(pair.target_prefix)
    outputs = engine.generate(sources, DecodeOptions(BEAM, MAX_NEW_TOKENS), prefixes=prefixes)
    expected, hypotheses = reference(converted, kind, items)
    assert engine.decode(outputs) == expected
    # Each row starts with its own target language token.
    assert [engine.tokenizer.convert_ids_to_tokens(row[0]) for row in outputs] == [
        h[0] for h in hypotheses
    ]
    assert len({row[0] for row in outputs}) >= 3


@pytest.mark.integration
def test_a_ctranslate2_worker_translates_each_job_into_its_own_language(
    amqp_url: str, converted: Path, kind: str
) -> None:
    items = mixed_items(12)
    jobs = jobs_for(items)
    routes = tuple(dict.fromkeys(f"{j['source_lang']}-{j['target_lang']}" for j in jobs))
    assert len(routes) >= 3
    settings = settings_for(
        amqp_url, model=str(converted), routes=routes, engine="ctranslate2",
        compute_type="float32", inter_threads=1, intra_threads=1,
    )
    events = translate_all(settings, jobs)

    for job in jobs:
        event = events[job["job_id"]]
        assert event["model"]["engine"] == "ctranslate2"
        alone = [Item(text, job["source_lang"], job["target_lang"]) for text in job["segments"]]
        assert event["translations"] == reference(converted, kind, alone)[0], job["job_id"]
