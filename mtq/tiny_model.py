"""Build a small Marian-style translation model that works fully offline.

The weights are random (from a fixed seed), so translations are meaningless; what matters is
that the model, its SentencePiece tokenizer and its files are real, and that the worker loads
them through the same ``from_pretrained`` path it uses for Helsinki-NLP/opus-mt-* models.
"""

from __future__ import annotations

import io
import json
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MEANINGLESS_NOTICE = (
    "The tiny model has random weights: its translations are meaningless token strings. "
    "It exists to exercise the real loading, batching and delivery paths offline."
)

_WORDS = (
    "the a an this that some every other new old big small good bad first last long short "
    "high low early late young great little own right left open closed free full ready "
    "time year people way day man woman child world life hand part place case week company "
    "system program question work government number night point home water room mother area "
    "money story fact month lot study book eye job word business issue side kind head house "
    "service friend father power hour game line end member law car city community name team "
    "minute idea kid body information back parent face others level office door health "
    "person art war history party result change morning reason research girl guy moment air "
    "teacher force education translation queue worker message server model batch segment "
    "is was are were be have has had do does did say says said go goes went get gets got "
    "make makes made know knows knew think thinks thought take takes took see sees saw come "
    "comes came want wants wanted look looks looked use uses used find finds found give gives "
    "gave tell tells told call calls called try tries tried ask asks asked need needs needed "
    "feel feels felt become becomes became leave leaves left put puts mean means meant keep "
    "keeps kept let lets begin begins began seem seems seemed help helps helped translate "
    "in on at by for with about against between into through during before after above "
    "below to from up down of off over under again further then once here there when where "
    "why how all any both each few more most such no nor not only same so than too very "
    "and but or because as until while if although since unless hello world thanks please"
).split()


@dataclass(frozen=True)
class TinyModelSpec:
    """Shape of the tiny model; small enough to decode quickly on a CPU."""

    vocab_size: int = 512
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    ffn_dim: int = 128
    max_positions: int = 512
    seed: int = 1234

    def architecture(self) -> dict[str, Any]:
        """The encoder-decoder shape as every seq2seq config in transformers names it."""
        return {
            "d_model": self.d_model,
            "encoder_layers": self.layers,
            "decoder_layers": self.layers,
            "encoder_attention_heads": self.heads,
            "decoder_attention_heads": self.heads,
            "encoder_ffn_dim": self.ffn_dim,
            "decoder_ffn_dim": self.ffn_dim,
            "max_position_embeddings": self.max_positions,
        }


def generated_sentences(count: int, seed: int) -> Iterator[str]:
    """Yield ``count`` English-looking sentences with a skewed length distribution."""
    rng = random.Random(seed)
    for _ in range(count):
        length = min(120, max(1, int(rng.lognormvariate(2.6, 0.6))))
        words = [rng.choice(_WORDS) for _ in range(length)]
        words[0] = words[0].capitalize()
        yield " ".join(words) + rng.choice((".", ".", ".", "?", "!"))


def _train_sentencepiece(spec: TinyModelSpec, model_type: str = "unigram") -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=generated_sentences(20_000, spec.seed),
        model_writer=model,
        vocab_size=spec.vocab_size - 2,  # room for </s> and <pad> in vocab.json
        model_type=model_type,
        character_coverage=1.0,
        unk_id=0,
        bos_id=-1,
        eos_id=-1,
        pad_id=-1,
        byte_fallback=False,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


KINDS = ("marian", "m2m100", "nllb")


def build_tiny_model(
    path: Path, spec: TinyModelSpec | None = None, kind: str = "marian"
) -> Path:
    """Write a tiny model of ``kind`` and its tokenizer to ``path`` with ``save_pretrained``.

    ``marian`` is bilingual (en-de) like Helsinki-NLP/opus-mt-*; ``m2m100`` and ``nllb`` are
    multilingual with the families' language tokens (``__de__``, ``deu_Latn``), built by
    :mod:`mtq.tiny_multilingual`.
    """
    spec = spec or TinyModelSpec()
    if kind not in KINDS:
        raise ValueError(f"unknown tiny model kind {kind!r}; choose one of {', '.join(KINDS)}")
    path.mkdir(parents=True, exist_ok=True)
    if kind == "marian":
        _build_marian(path, spec)
    else:
        from mtq.tiny_multilingual import build_multilingual

        build_multilingual(path, spec, kind)
    (path / "MTQ_TINY_MODEL.txt").write_text(MEANINGLESS_NOTICE + "\n", encoding="utf-8")
    return path


def _build_marian(path: Path, spec: TinyModelSpec) -> None:
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    spm_bytes = _train_sentencepiece(spec)
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
            source_lang="en",
            target_lang="de",
            model_max_length=spec.max_positions,
        )
        tokenizer.save_pretrained(path)

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
