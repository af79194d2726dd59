"""Smoke tests of the CTranslate2 rows of the benchmark (bench/ct2/, ``python -m bench ct2``).

No timing assertions: every row is produced with positive numbers, on a handful of segments
and the tiny model; the padded Marian-layout vocabulary the opus-shaped model needs converts
and decodes; the GPU rows say they skip where there is no CUDA.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ctranslate2", reason="needs pip install 'mtq[ctranslate2]'")

from bench.ct2 import gpu as ct2_gpu
from bench.ct2.config import Ct2Config
from bench.ct2.models import build_models, fast_tokenizer_padded, first_filler
from bench.ct2.report import markdown_table, text_table, verdicts
from bench.ct2.rows import run_cpu
from bench.models import ModelShape
from mtq.core.contract import DecodeOptions

pytestmark = pytest.mark.filterwarnings("ignore:Unfeasible length constraints")

SEGMENTS = 9
MAX_NEW_TOKENS = 4
ENGINES = {"HF float32 1t", "CT2 float32 1x1", "CT2 int8 1x1", "CT2 int8 2x1"}


def _config(e2e: bool) -> Ct2Config:
    return Ct2Config(
        model="tiny", segments=SEGMENTS, max_new_tokens=MAX_NEW_TOKENS, large_job_size=5,
        threads=1, hf_threads=1, hf_all_cores_row=False, e2e=e2e, token_budget=256,
        max_batch_segments=4, max_wait_s=0.005,
    )


def _check_row(result: object) -> None:
    assert result.segments == SEGMENTS  # type: ignore[attr-defined]
    assert result.wall_s > 0  # type: ignore[attr-defined]
    assert result.segments_per_s > 0  # type: ignore[attr-defined]
    assert result.generated_tokens_per_s > 0  # type: ignore[attr-defined]
    # HF generates exactly max_new_tokens per segment; CTranslate2 at most that many.
    generated = result.generated_tokens  # type: ignore[attr-defined]
    if result.extra["engine"] == "hf":  # type: ignore[attr-defined]
        assert generated == SEGMENTS * MAX_NEW_TOKENS
    else:
        assert 0 < generated <= SEGMENTS * MAX_NEW_TOKENS
    assert sum(b.segments for b in result.batches) == SEGMENTS  # type: ignore[attr-defined]
    assert len(result.job_latencies_s) == result.jobs  # type: ignore[attr-defined]


def test_engine_level_rows_are_all_there(tiny_model_path: Path, tmp_path: Path) -> None:
    results, _notes = run_cpu(_config(e2e=False), tmp_path, lambda line: None,
                                  tiny_model_path)

    assert {(r.model, r.strategy) for r in results} == {(e, "limit") for e in ENGINES}
    for result in results:
        _check_row(result)
    runs_as = {r.model: r.extra["runs_as"] for r in results}
    assert runs_as["CT2 int8 1x1"].startswith("int8")
    assert runs_as["CT2 float32 1x1"] == "float32"
    table = text_table(results)
    for engine in ENGINES:
        assert engine in table
    assert "1.00x" in table  # the HF row against itself
    assert "vs best HF" in markdown_table(results)


@pytest.mark.integration
def test_end_to_end_rows_through_the_broker(tiny_model_path: Path, tmp_path: Path) -> None:
    results, _notes = run_cpu(_config(e2e=True), tmp_path, lambda line: None,
                                  tiny_model_path)

    e2e = {r.model: r for r in results if r.strategy == "e2e"}
    assert set(e2e) == {"HF float32 1t", "CT2 int8 1x1", "CT2 int8 2x1"}
    for result in e2e.values():
        _check_row(result)
        assert result.extra["cpu_s"]
    lines = verdicts(results)
    assert sum("target >= 2x" in line for line in lines) == 2


def test_padded_vocabulary_converts_and_decodes(tiny_model_path: Path, tmp_path: Path) -> None:
    """The opus-shaped model's tokenizer layout, on a small shape: same ids as the tiny
    tokenizer, <pad> last, and CTranslate2 converts and runs it."""
    from transformers import AutoTokenizer

    from worker.engines.ct2 import CTranslate2Engine

    shape = ModelShape(vocab_size=700, d_model=16, layers=1, heads=2, ffn_dim=32)
    hf_path, ct2_path = build_models(
        tmp_path, "opus", MAX_NEW_TOKENS, tiny_model_path, shape=shape
    )
    tokenizer = AutoTokenizer.from_pretrained(hf_path)
    tiny = AutoTokenizer.from_pretrained(tiny_model_path)
    assert len(tokenizer) == 700 and tokenizer.pad_token_id == 699
    text = "The quick brown fox jumps over the lazy dog."
    assert tokenizer(text)["input_ids"] == tiny(text)["input_ids"]
    assert first_filler(tokenizer) == len(tiny) - 1

    engine = CTranslate2Engine.from_folder(
        ct2_path, compute_type="float32", intra_threads=1, device="cpu"
    )
    (output,) = engine.generate(engine.encode([text]), DecodeOptions(2, MAX_NEW_TOKENS))
    assert 0 < len(output) < MAX_NEW_TOKENS and all(0 <= t < 699 for t in output)


def test_fast_tokenizer_fallback_has_marian_layout(tmp_path: Path) -> None:
    """Where sentencepiece is missing (bare GPU machines): the same layout from `tokenizers`."""
    from transformers import AutoTokenizer

    folder = fast_tokenizer_padded(tmp_path / "tok", 700)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert len(tokenizer) == 700
    assert (tokenizer.eos_token_id, tokenizer.unk_token_id, tokenizer.pad_token_id) == (0, 1, 699)
    ids = tokenizer("A short sentence.")["input_ids"]
    assert ids[-1] == 0 and all(t < first_filler(tokenizer) for t in ids)


def test_gpu_mode_says_it_skips_without_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    import ctranslate2

    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("CUDA is visible: the real GPU rows would run")
    assert ct2_gpu.run_gpu_rows(ct2_gpu.GpuArgs()) == 0
    assert "skipped: no CUDA" in capsys.readouterr().out
