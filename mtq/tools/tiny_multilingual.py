"""Tiny multilingual models (M2M100 and NLLB-200 shaped), built offline with random weights.

Each has the family's real tokenizer class, constructed from files trained here: M2M100's
``M2M100Tokenizer`` on a SentencePiece BPE model plus ``vocab.json`` (language tokens
``__de__`` after the vocabulary), NLLB's ``NllbTokenizer`` on a BPE vocabulary and merges
(the 202 FLORES-200 tokens ``deu_Latn`` as special tokens). Both models are
``M2M100ForConditionalGeneration``, the class ``facebook/m2m100_418M`` and
``facebook/nllb-200-distilled-600M`` load as, with no forced target language in the
generation config: the language must come from the job.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from mtq.core.language_table import M2M100
from mtq.tools.tiny_corpus import TinyModelSpec, generated_sentences, train_sentencepiece

_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # fairseq order: ids 0-3


def build_multilingual(path: Path, spec: TinyModelSpec, kind: str) -> None:
    tokenizer = _m2m100_tokenizer(spec) if kind == "m2m100" else _nllb_tokenizer(spec)
    tokenizer.model_max_length = spec.max_positions
    tokenizer.save_pretrained(path)
    if kind == "m2m100":  # the language ids and 8 "made-up words" follow vocab.json's ids
        vocab_size = tokenizer.encoder_size + len(tokenizer.lang_code_to_id)
        vocab_size += tokenizer.num_madeup_words
    else:
        vocab_size = len(tokenizer)
    _model(spec, vocab_size=vocab_size).save_pretrained(path)


def _m2m100_tokenizer(spec: TinyModelSpec) -> Any:
    import sentencepiece as spm
    from transformers import M2M100Tokenizer

    spm_bytes = train_sentencepiece(spec, model_type="bpe")
    processor = spm.SentencePieceProcessor(model_proto=spm_bytes)
    vocab = {token: index for index, token in enumerate(_SPECIALS)}
    for i in range(processor.get_piece_size()):
        vocab.setdefault(processor.id_to_piece(i), len(vocab))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "sentencepiece.bpe.model").write_bytes(spm_bytes)
        (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        # The tokenizer reads both files when constructed; save_pretrained copies them out.
        return M2M100Tokenizer(
            vocab_file=str(folder / "vocab.json"),
            spm_file=str(folder / "sentencepiece.bpe.model"),
            src_lang="en", tgt_lang="de",
            # As facebook/m2m100_418M's tokenizer_config lists them: special, so decoding with
            # skip_special_tokens drops them.
            additional_special_tokens=[f"__{code}__" for code in M2M100],
        )


def _nllb_tokenizer(spec: TinyModelSpec) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import NllbTokenizer

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size, special_tokens=list(_SPECIALS), show_progress=False
    )
    bpe.train_from_iterator(generated_sentences(20_000, spec.seed), trainer)
    saved = json.loads(bpe.to_str())["model"]
    # Pairs, as the BPE model takes them (the tokenizer's annotation says strings).
    merges: Any = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in saved["merges"]]
    return NllbTokenizer(
        vocab=saved["vocab"], merges=merges, src_lang="eng_Latn", tgt_lang="deu_Latn"
    )


def _model(spec: TinyModelSpec, vocab_size: int) -> Any:
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    config = M2M100Config(
        vocab_size=vocab_size,
        **spec.architecture(),
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        scale_embedding=True,
        init_std=0.2,  # as the Marian tiny model: outputs depend on the input
    )
    torch.manual_seed(spec.seed)
    model = M2M100ForConditionalGeneration(config).eval()  # type: ignore[no-untyped-call]
    model.generation_config.num_beams = 4
    return model
