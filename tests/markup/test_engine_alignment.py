"""Attention from the real (tiny) models, turned into links the restorer can use."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtq.core.contract import DecodeOptions
from mtq.core.markup import mask, restore
from mtq.core.settings import Settings
from worker.engines.alignment import char_alignment, hf_cross_attention
from worker.engines.hf import HFEngine

SEGMENTS = ['Click <b>Save</b> to keep <a href="/x">your changes</a>.', "Press <x/> to go"]


@pytest.fixture(scope="module")
def hf_engine(tiny_model_path: Path) -> HFEngine:
    return HFEngine(Settings(model=str(tiny_model_path), device="cpu", torch_threads=1))


def test_hf_cross_attention_has_one_row_per_output_token(hf_engine: HFEngine) -> None:
    masked = [mask(s, "html") for s in SEGMENTS]
    sources = hf_engine.encode([m.text for m in masked])
    options = DecodeOptions(beam_size=2, max_new_tokens=8)
    outputs = hf_engine.generate(sources, options)
    rows = hf_cross_attention(hf_engine.model, hf_engine._torch, hf_engine.device, sources,
                              outputs, hf_engine.pad_id)
    assert [len(r) for r in rows] == [len(o) for o in outputs]
    for source, attention in zip(sources, rows, strict=True):
        assert all(len(row) == len(source) for row in attention)
        assert all(abs(sum(row) - 1.0) < 1e-3 for row in attention[1:])
    # The search is untouched: the same outputs with the model back on its own kernels.
    assert hf_engine.generate(sources, options) == outputs

    for m, source, output, attention in zip(masked, sources, outputs, rows, strict=True):
        translation = hf_engine.decode([output])[0]
        links = char_alignment(hf_engine.decode, source, m.text, output, translation,
                               attention)
        assert links, "every non-empty translation gets some links"
        result = restore(m, translation, links)
        assert result.warnings == ()


def test_ct2_forced_attention_has_one_row_per_output_token(markup_ct2_model: Path) -> None:
    from worker.engines.alignment import ct2_forced_attention
    from worker.engines.ct2 import CTranslate2Engine

    engine = CTranslate2Engine.from_folder(markup_ct2_model, compute_type="float32",
                                           inter_threads=1, intra_threads=1, device="cpu")
    masked = [mask(s, "html") for s in SEGMENTS]
    sources = engine.encode([m.text for m in masked])
    options = DecodeOptions(beam_size=2, max_new_tokens=8)
    outputs = engine.generate(sources, options)
    rows = ct2_forced_attention(engine.translator, engine.tokenizer, sources, outputs)
    assert [len(r) for r in rows] == [len(o) for o in outputs]
    assert all(len(row) == len(s) for s, r in zip(sources, rows, strict=True) for row in r)
    assert engine.generate(sources, options) == outputs
    for m, source, output, attention in zip(masked, sources, outputs, rows, strict=True):
        translation = engine.decode([output])[0]
        links = char_alignment(engine.decode, source, m.text, output, translation, attention)
        assert links
        assert restore(m, translation, links).warnings == ()
