"""Build a small Marian-style translation model that works fully offline.

The weights are random (from a fixed seed), so translations are meaningless; what matters is
that the model, its SentencePiece tokenizer and its files are real, and that the worker loads
them through the same ``from_pretrained`` path it uses for Helsinki-NLP/opus-mt-* models.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mtq.tools.tiny_corpus import TinyModelSpec, train_sentencepiece
from mtq.tools.tiny_multilingual import build_multilingual

MEANINGLESS_NOTICE = (
    "The tiny model has random weights: its translations are meaningless token strings. "
    "It exists to exercise the real loading, batching and delivery paths offline."
)

KINDS = ("marian", "m2m100", "nllb", "trained")


def build_tiny_model(
    path: Path, spec: TinyModelSpec | None = None, kind: str = "marian"
) -> Path:
    """Write a tiny model of ``kind`` and its tokenizer to ``path`` with ``save_pretrained``.

    ``marian`` is bilingual (en-de) like Helsinki-NLP/opus-mt-*; ``m2m100`` and ``nllb`` are
    multilingual with the families' language tokens (``__de__``, ``deu_Latn``), built by
    :mod:`mtq.tools.tiny_multilingual`. ``trained`` is not built but copied: the Marian model
    trained on the synthetic pair (:mod:`mtq.tools.trained_model`), whose translations are
    right.
    """
    spec = spec or TinyModelSpec()
    if kind not in KINDS:
        raise ValueError(f"unknown tiny model kind {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "trained":
        from mtq.tools.trained_model import copy_trained_model

        return copy_trained_model(path)
    path.mkdir(parents=True, exist_ok=True)
    if kind == "marian":
        _build_marian(path, spec)
    else:
        build_multilingual(path, spec, kind)
    (path / "MTQ_TINY_MODEL.txt").write_text(MEANINGLESS_NOTICE + "\n", encoding="utf-8")
    return path


def save_marian_tokenizer(
    path: Path, spm_bytes: bytes, max_length: int, languages: tuple[str, str]
) -> dict[str, int]:
    """Save a Marian tokenizer (one SentencePiece model for both sides) to ``path``; return
    its vocabulary (piece to id) for the model's config."""
    import sentencepiece as spm
    from transformers import MarianTokenizer

    processor = spm.SentencePieceProcessor(model_proto=spm_bytes)
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    # Marian's layout: </s> first, <unk> next, the pieces, <pad> last.
    vocab = {"</s>": 0, "<unk>": 1}
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    vocab["<pad>"] = len(vocab)

    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        (scratch_dir / "spm.model").write_bytes(spm_bytes)
        (scratch_dir / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        tokenizer = MarianTokenizer(
            source_spm=str(scratch_dir / "spm.model"),
            target_spm=str(scratch_dir / "spm.model"),
            vocab=str(scratch_dir / "vocab.json"),
            source_lang=languages[0],
            target_lang=languages[1],
            model_max_length=max_length,
        )
        tokenizer.save_pretrained(path)
    return vocab


def _build_marian(path: Path, spec: TinyModelSpec) -> None:
    import torch
    from transformers import MarianConfig, MarianMTModel

    spm_bytes = train_sentencepiece(spec)
    vocab = save_marian_tokenizer(path, spm_bytes, spec.max_positions, ("en", "de"))

    config = MarianConfig(
        vocab_size=len(vocab),
        **spec.architecture(),
        pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["<pad>"],
        forced_eos_token_id=vocab["</s>"],
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        # Wider than the default 0.02 so outputs depend on the input (useful for fidelity tests).
        init_std=0.2,
    )
    torch.manual_seed(spec.seed)
    model = MarianMTModel(config).eval()  # type: ignore[no-untyped-call]
    model.generation_config.num_beams = 4
    model.save_pretrained(path)
