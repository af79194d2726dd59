"""What every tiny model is built from: its shape, a generated English-like corpus, and the
SentencePiece model trained on it (:mod:`mtq.tools.tiny_model`, :mod:`mtq.tools.tiny_multilingual`).
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

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


def train_sentencepiece(
    spec: TinyModelSpec, model_type: str = "unigram", sentences: Iterable[str] | None = None
) -> bytes:
    """A SentencePiece model of ``spec.vocab_size`` pieces (less </s> and <pad>), trained on
    ``sentences`` (by default the generated English-like corpus)."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences) if sentences is not None
        else generated_sentences(20_000, spec.seed),
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
