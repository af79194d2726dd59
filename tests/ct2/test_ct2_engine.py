"""The CTranslate2 engine on the converted tiny model: interface, decoding limits, replicas."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtq.core.contract import DecodeOptions
from mtq.core.errors import ConfigError
from mtq.core.settings import Settings
from mtq.tools.tiny_corpus import generated_sentences
from worker.engines import load_engine
from worker.engines.ct2 import (
    LENGTH_FACTOR,
    LENGTH_SLACK,
    CTranslate2Engine,
    decoding_cap,
    split_for_replicas,
)

# -- pure helpers ---------------------------------------------------------------------------


def test_decoding_cap_follows_the_longest_source_but_never_exceeds_the_job_limit() -> None:
    assert decoding_cap(10, 256) == LENGTH_FACTOR * 10 + LENGTH_SLACK
    assert decoding_cap(200, 256) == 256
    assert decoding_cap(10, 12) == 12
    assert decoding_cap(0, 1) == 1


@pytest.mark.parametrize("parts", [1, 2, 3, 4, 7])
def test_split_for_replicas_covers_every_segment_once_in_length_runs(parts: int) -> None:
    lengths = [5, 40, 3, 12, 12, 90, 7, 21, 33, 8, 15]
    chunks = split_for_replicas(lengths, parts)
    assert len(chunks) == parts
    assert sorted(i for chunk in chunks for i in chunk) == list(range(len(lengths)))
    flat = [lengths[i] for chunk in chunks for i in chunk]
    assert flat == sorted(flat)  # each chunk is a run of similar lengths
    if parts > 1:
        heaviest = max(sum(lengths[i] for i in chunk) for chunk in chunks)
        assert heaviest < sum(lengths)  # the work is actually shared


def test_split_for_replicas_never_makes_empty_chunks() -> None:
    assert split_for_replicas([4, 9], 4) == [[0], [1]]
    assert split_for_replicas([4], 3) == [[0]]
    assert split_for_replicas([100, 1, 1, 1], 2) == [[1, 2, 3], [0]]


# -- the engine -----------------------------------------------------------------------------


def test_engine_describes_itself_and_is_what_load_engine_builds(ct2_model_path: Path) -> None:
    settings = Settings(
        model=str(ct2_model_path), engine="ctranslate2", device="cpu", compute_type="int8",
        inter_threads=1, intra_threads=1,
    )
    engine = load_engine(settings)
    assert isinstance(engine, CTranslate2Engine)
    assert engine.info.engine == "ctranslate2"
    assert engine.info.compute_type == "int8_float32"  # int8 weights, float32 activations
    assert engine.info.name == ct2_model_path.name
    assert engine.info.revision.startswith("sha256:")
    assert engine.max_source_tokens == 512


def test_generate_returns_one_output_per_source_within_the_caps(
    ct2_engine: CTranslate2Engine,
) -> None:
    texts = list(generated_sentences(12, seed=21))
    sources = ct2_engine.encode(texts)
    outputs = ct2_engine.generate(sources, DecodeOptions(beam_size=2, max_new_tokens=256))
    assert len(outputs) == len(sources)
    cap = decoding_cap(max(len(s) for s in sources), 256)
    # The tiny model never says </s>: every output runs to the batch cap, less the slot HF
    # spends on its forced </s>.
    assert {len(output) for output in outputs} == {cap - 1}
    decoded = ct2_engine.decode(outputs)
    assert len(decoded) == len(texts) and all(decoded)

    short = ct2_engine.generate(sources, DecodeOptions(beam_size=2, max_new_tokens=6))
    assert {len(output) for output in short} == {5}


def test_an_empty_output_decodes_to_an_empty_string(ct2_engine: CTranslate2Engine) -> None:
    assert ct2_engine.decode([[]]) == [""]


def test_replicas_split_a_batch_and_keep_its_order(ct2_model_path: Path) -> None:
    texts = list(generated_sentences(24, seed=8))
    options = DecodeOptions(beam_size=2, max_new_tokens=10)  # one cap for every chunk
    one = CTranslate2Engine.from_folder(
        ct2_model_path, compute_type="float32", inter_threads=1, intra_threads=1, device="cpu"
    )
    three = CTranslate2Engine.from_folder(
        ct2_model_path, compute_type="float32", inter_threads=3, intra_threads=1, device="cpu"
    )
    assert three.translator.num_translators == 3
    three.warmup(options)
    sources = one.encode(texts)
    assert three.generate(sources, options) == one.generate(sources, options)


def test_a_plain_hf_folder_is_refused_with_the_fix(tiny_model_path: Path) -> None:
    pytest.importorskip("ctranslate2")
    with pytest.raises(ConfigError, match="mtq convert"):
        CTranslate2Engine.from_folder(tiny_model_path, device="cpu")


def test_compute_type_the_device_lacks_is_refused(ct2_model_path: Path) -> None:
    with pytest.raises(ConfigError, match="MTQ_COMPUTE_TYPE='float16' is not supported on cpu"):
        CTranslate2Engine.from_folder(ct2_model_path, compute_type="float16", device="cpu")


def test_negative_replicas_are_refused(ct2_model_path: Path) -> None:
    with pytest.raises(ConfigError, match="MTQ_INTER_THREADS"):
        CTranslate2Engine.from_folder(ct2_model_path, inter_threads=-1, device="cpu")
