"""Per-job languages in both engines, against raw references decoding one segment at a time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mtq.core.contract import DecodeOptions
from mtq.core.languages import LanguageCodes
from mtq.core.settings import Settings
from tests.multilingual.conftest import (
    BEAM,
    MAX_NEW_TOKENS,
    HFReference,
    Item,
    forced_bos,
    mixed_items,
    translations,
)
from worker.engines.hf import HFEngine
from worker.engines.languages import BILINGUAL, ModelLanguages

OPTIONS = DecodeOptions(BEAM, MAX_NEW_TOKENS)


@pytest.fixture(scope="module")
def engine(model_path: Path) -> HFEngine:
    return HFEngine(Settings(model=str(model_path), device="cpu", dtype="float32",
                             torch_threads=1))


@pytest.fixture(scope="module")
def reference(model_path: Path, kind: str) -> HFReference:
    return HFReference(model_path, kind)


Encoded = tuple[list[list[int]], list[tuple[int, ...]]]


def encode_items(engine: HFEngine, items: list[Item]) -> Encoded:
    sources: list[list[int]] = []
    prefixes: list[tuple[int, ...]] = []
    for item in items:
        pair = engine.languages.pair(item.source, item.target)
        assert pair is not None
        sources.append(engine.encode([item.text], pair)[0])
        prefixes.append(pair.target_prefix)
    return sources, prefixes


def test_source_ids_are_the_tokenizers_own_for_each_source_language(
    engine: HFEngine, reference: HFReference
) -> None:
    before = engine.tokenizer.src_lang
    for item in mixed_items(10):
        assert encode_items(engine, [item])[0][0] == reference.source_ids(item)
    assert engine.tokenizer.src_lang == before  # the shared tokenizer is never switched


def test_encoding_is_safe_under_a_thread_pool(engine: HFEngine) -> None:
    items = mixed_items(40)
    sequential = [encode_items(engine, [item])[0][0] for item in items]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda item: encode_items(engine, [item])[0][0], items))
    assert threaded == sequential


def test_a_mixed_pair_batch_equals_one_segment_at_a_time(
    engine: HFEngine, reference: HFReference
) -> None:
    items = mixed_items(10)
    assert len({(i.source, i.target) for i in items}) >= 3
    sources, prefixes = encode_items(engine, items)
    outputs = engine.generate(sources, OPTIONS, prefixes=prefixes)
    assert engine.decode(outputs) == translations(reference, items)


def test_same_source_different_targets_get_different_forced_prefixes(
    engine: HFEngine, reference: HFReference, kind: str
) -> None:
    text = "The queue holds every segment of the job."
    items = [Item(text, "en", "de"), Item(text, "en", "fr"), Item(text, "en", "es")]
    sources, prefixes = encode_items(engine, items)
    assert sources[0] == sources[1] == sources[2]
    expected = [forced_bos(kind, reference.tokenizer, item.target) for item in items]
    assert [p[0] for p in prefixes] == expected
    assert len(set(expected)) == 3
    outputs = engine.generate(sources, OPTIONS, prefixes=prefixes)
    start = int(engine.model.config.decoder_start_token_id)
    assert [row[:2] for row in outputs] == [[start, token] for token in expected]
    for item, row in zip(items, outputs, strict=True):
        assert row == reference.translate(item)[1]


def test_pairs_the_model_cannot_serve_are_none(engine: HFEngine, kind: str) -> None:
    assert engine.languages.pair("en", "xx") is None
    assert engine.languages.pair("tlh", "en") is None
    served = engine.languages.pair("en", "zh_Hant")
    assert (served is None) == (kind == "m2m100")  # M2M100 has no Traditional Chinese
    assert engine.languages.pair("en", "pt_BR") == engine.languages.pair("en", "pt")


def test_overrides_map_tags_the_table_lacks(engine: HFEngine, kind: str) -> None:
    token = "__fr__" if kind == "m2m100" else "fra_Latn"
    overrides = LanguageCodes.parse([f"gsw={token}"])
    languages = ModelLanguages.from_tokenizer(engine.tokenizer, overrides)
    assert languages.pair("en", "gsw") == languages.pair("en", "fr")
    assert engine.languages.pair("en", "gsw") is None


def test_a_bilingual_model_keeps_its_tokenizer_as_it_is(tiny_model_path: Path) -> None:
    engine = HFEngine(Settings(model=str(tiny_model_path), device="cpu", dtype="float32",
                               torch_threads=1))
    assert not engine.languages.multilingual
    assert engine.languages.pair("en", "de") is BILINGUAL
    text = ["Hello world."]
    expected = [list(engine.tokenizer(text[0])["input_ids"])]
    assert engine.encode(text) == engine.encode(text, BILINGUAL) == expected
