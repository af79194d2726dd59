"""Marian's tokenizer (Helsinki-NLP/opus-mt-*) without its per-call machinery.

``MarianTokenizer`` is a pure-Python tokenizer around two SentencePiece models. For a one-
segment job most of its cost is the generic machinery around the SentencePiece call (the
added-token trie, ``BatchEncoding``, per-id property lookups when decoding), not the call
itself. :class:`MarianCodec` does the same steps directly:

- encode: the source SentencePiece model splits each text (one call per text: its list form
  starts a thread pool, slower for the few texts of a loop turn); pieces become ids
  through the vocabulary (added tokens first, unknown pieces as ``<unk>``, as the tokenizer
  does); ``</s>`` is appended when special tokens are wanted.
- decode: special ids are dropped, ids become pieces through the decoder, the SentencePiece
  model the tokenizer would use joins them, and the tokenizer's own clean-up runs if it is on.

Anything the shortcut does not cover goes through the tokenizer itself, text by text or row
by row: a text containing an added token's string (``</s>``, ``<unk>``, …) or starting with a
language code (``>>fra<<``), and a row with an id outside the plain vocabulary. The results
are the tokenizer's, token for token and character for character
(tests/unit/test_marian_codec.py compares them on the real tokenizer).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from typing import Any

_SPIECE_UNDERLINE = "\u2581"
_CODECS: weakref.WeakKeyDictionary[Any, MarianCodec | None] = weakref.WeakKeyDictionary()


def marian_codec(tokenizer: Any) -> MarianCodec | None:
    """The shortcut for ``tokenizer`` if it is a Marian tokenizer, else None (kept per object)."""
    try:
        return _CODECS[tokenizer]
    except KeyError:
        pass
    except TypeError:  # not weakly referenceable: no shortcut
        return None
    codec = MarianCodec(tokenizer) if _is_marian(tokenizer) else None
    _CODECS[tokenizer] = codec
    return codec


def _is_marian(tokenizer: Any) -> bool:
    try:
        from transformers import MarianTokenizer
    except ImportError:  # transformers without sentencepiece
        return False
    # Exactly Marian's class: a subclass may change any step.
    return type(tokenizer) is MarianTokenizer


class MarianCodec:
    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        added = dict(tokenizer.added_tokens_encoder)  # token -> id, the special ones included
        # Lookup order of convert_tokens_to_ids: added tokens, then the vocabulary, else <unk>.
        self._vocab = {**tokenizer.encoder, **added}
        self._unk_id = tokenizer.encoder[str(tokenizer.unk_token)]
        self._eos_id = int(tokenizer.eos_token_id)
        self._source_spm = tokenizer.spm_source
        contents = sorted(added, key=len, reverse=True)
        self._added_text = re.compile("|".join(map(re.escape, contents))) if contents else None
        self._special_ids = frozenset(tokenizer.all_special_ids)
        self._decoder: dict[int, str] = tokenizer.decoder
        # Ids decoded as plain pieces: in the decoder, not added tokens, not a special's string.
        special_strings = set(tokenizer.all_special_tokens)
        self._plain_ids = frozenset(
            i for i, token in self._decoder.items()
            if i not in tokenizer.added_tokens_decoder and token not in special_strings)
        # MarianTokenizer._decode: the source model decodes unless the vocabularies are separate.
        separate = tokenizer.separate_vocabs
        self._decode_spm = tokenizer.spm_target if separate else tokenizer.spm_source
        self._clean_up = bool(tokenizer.clean_up_tokenization_spaces)

    def encode(self, texts: Sequence[str], add_special_tokens: bool) -> list[list[int]]:
        # The texts the shortcut does not cover, through the tokenizer in one call.
        rest = [index for index, text in enumerate(texts) if not self._plain_text(text)]
        fallback: dict[int, list[int]] = {}
        if rest:
            encoded = self._tokenizer([texts[i] for i in rest],
                                      add_special_tokens=add_special_tokens, truncation=False)
            fallback = {i: list(ids) for i, ids in zip(rest, encoded["input_ids"], strict=True)}
        vocab, unk, spm = self._vocab, self._unk_id, self._source_spm
        tail = [self._eos_id] if add_special_tokens else []
        return [
            fallback[index] if index in fallback
            else [vocab.get(piece, unk) for piece in spm.encode(text, out_type=str)] + tail
            for index, text in enumerate(texts)
        ]

    def decode(self, rows: Sequence[Sequence[int]]) -> list[str]:
        return [self._decode_row(row) for row in rows]

    def _plain_text(self, text: str) -> bool:
        if text.startswith(">>") and "<<" in text:  # a language code, split off by Marian
            return False
        return self._added_text is None or self._added_text.search(text) is None

    def _decode_row(self, row: Sequence[int]) -> str:
        special, decoder = self._special_ids, self._decoder
        kept = [i for i in map(int, row) if i not in special]
        if not self._plain_ids.issuperset(kept):
            return str(self._tokenizer.decode(list(row), skip_special_tokens=True))
        text = self._decode_spm.decode_pieces([decoder[i] for i in kept])
        text = text.replace(_SPIECE_UNDERLINE, " ").strip()
        return str(self._tokenizer.clean_up_tokenization(text)) if self._clean_up else text
