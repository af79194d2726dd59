"""mtq convert refuses a conversion that no longer translates like its source."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtq.core.errors import ConfigError
from mtq.tools.convert import convert_model
from mtq.tools.convert_check import verify_conversion


def test_a_faithful_conversion_translates_the_sample_identically(
    trained_model_path: Path, trained_ct2_path: Path,
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(trained_model_path)
    agreement = verify_conversion(trained_model_path, trained_ct2_path, tokenizer)
    assert agreement.identical and not agreement.refused


def test_a_model_whose_decoder_start_row_is_not_zero_is_refused_with_numbers(
    trained_model_path: Path, tmp_path: Path,
) -> None:
    import torch
    from transformers import AutoTokenizer, MarianMTModel

    model = MarianMTModel.from_pretrained(trained_model_path, dtype=torch.float32)
    start = model.config.decoder_start_token_id
    with torch.no_grad():  # Marian keeps this row at zero; CTranslate2 relies on it
        torch.manual_seed(0)
        model.get_input_embeddings().weight[start] = torch.randn(model.config.d_model)
    source = tmp_path / "odd-start"
    model.save_pretrained(source)
    AutoTokenizer.from_pretrained(trained_model_path).save_pretrained(source)
    with pytest.raises(ConfigError, match=r"refused: the converted model translates \d+ of 24"):
        convert_model(source, tmp_path / "converted")
    assert not (tmp_path / "converted").exists()
