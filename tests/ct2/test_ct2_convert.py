"""``mtq convert``: the tiny model to CTranslate2, and the errors a user can run into."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from mtq.cli.main import main
from mtq.core.errors import ConfigError
from mtq.tools.convert import convert_model
from mtq.tools.tiny_corpus import generated_sentences
from worker.engines.conversion import CONVERSION_FILE, Conversion

ctranslate2 = pytest.importorskip("ctranslate2", reason="needs pip install 'mtq[ctranslate2]'")


def test_conversion_keeps_the_tokenizer_beside_the_model(
    tiny_model_path: Path, ct2_model_path: Path
) -> None:
    assert ctranslate2.contains_model(str(ct2_model_path))
    conversion = Conversion.read(ct2_model_path)
    assert conversion is not None
    assert conversion.architecture == "MarianConfig"
    assert conversion.quantization == ""
    assert conversion.max_source_tokens == 512
    assert (ct2_model_path / "generation_config.json").is_file()
    source = AutoTokenizer.from_pretrained(tiny_model_path)
    converted = AutoTokenizer.from_pretrained(ct2_model_path)
    texts = list(generated_sentences(20, seed=5))
    assert converted(texts)["input_ids"] == source(texts)["input_ids"]
    assert not [p.name for p in ct2_model_path.parent.iterdir() if p.name.startswith(".")]


def test_cli_converts_refuses_a_non_empty_destination_and_replaces_it_with_force(
    tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    destination = tmp_path / "converted"
    destination.mkdir()  # an empty folder is fine

    assert main(["convert", str(tiny_model_path), str(destination)]) == 0
    assert "MTQ_ENGINE=ctranslate2" in capsys.readouterr().out
    (destination / "keep-me.txt").write_text("user data", encoding="utf-8")

    assert main(["convert", str(tiny_model_path), str(destination)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (destination / "keep-me.txt").exists()

    code = main([
        "convert", str(tiny_model_path), str(destination), "--force", "--quantization", "int8",
    ])
    assert code == 0
    assert not (destination / "keep-me.txt").exists()
    record = json.loads((destination / CONVERSION_FILE).read_text(encoding="utf-8"))
    assert record["quantization"] == "int8"
    stored = ctranslate2.Translator(str(destination), device="cpu", compute_type="default")
    assert stored.compute_type.startswith("int8")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        convert_model(tmp_path / "nope", tmp_path / "out")


def test_folder_without_config_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(ConfigError, match=r"no config\.json"):
        convert_model(tmp_path / "src", tmp_path / "out")


def test_unsupported_architecture_names_what_is_supported(tmp_path: Path) -> None:
    source = tmp_path / "bert"
    source.mkdir()
    (source / "config.json").write_text(json.dumps({"model_type": "bert"}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unsupported architecture BertConfig.*Marian"):
        convert_model(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_destination_may_not_be_or_contain_the_source(tiny_model_path: Path) -> None:
    with pytest.raises(ConfigError, match="contains it"):
        convert_model(tiny_model_path, tiny_model_path, force=True)
    with pytest.raises(ConfigError, match="contains it"):
        convert_model(tiny_model_path, tiny_model_path.parent, force=True)


def test_destination_that_is_a_file_is_refused(tiny_model_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a directory"):
        convert_model(tiny_model_path, target, force=True)


def test_unknown_quantization_is_refused(tiny_model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="quantization"):
        convert_model(tiny_model_path, tmp_path / "out", "int4")
