"""Per-job languages on a loaded model: source tokens when encoding, a forced target prefix.

Multilingual families (NLLB-200, M2M100, mBART-50) mark the source language with a token the
tokenizer adds around the text, and need the target language forced as the first generated
token. ``tokenizer.src_lang = ...`` would change a tokenizer shared by the tokenizer pool, so
nothing here mutates it: the tokenizer's own template (``prefix_tokens`` / ``suffix_tokens``,
which also covers NLLB's legacy suffix layout) is read once at load, and each job's ids are
built explicitly as ``template[source language] + pieces``. The target language travels with
each segment as a prefix of token ids that the engine forces per row (HF: a logits processor
per row, exactly what ``forced_bos_token_id`` does for one; CTranslate2: ``target_prefix`` per
example), so segments of different pairs share a batch.

A bilingual model (Marian) has no language tokens: its tokenizer's own special tokens are
used unchanged and every route mapped to it is served as configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mtq.core.languages import NO_OVERRIDES, Family, LanguageCodes, language_tokens, model_code
from worker.engines.codec import encode_texts

_FAMILY_BY_TOKENIZER = (
    ("Nllb", Family.NLLB),
    ("M2M100", Family.M2M100),
    ("MBart", Family.MBART50),
)


@dataclass(frozen=True)
class LanguagePair:
    """How one job's segments are encoded and decoded on one model."""

    source_prefix: tuple[int, ...] = ()
    source_suffix: tuple[int, ...] = ()
    target_prefix: tuple[int, ...] = ()  # forced first generated tokens
    explicit: bool = False  # False: the tokenizer's own special tokens (bilingual model)


BILINGUAL = LanguagePair()


@dataclass(frozen=True)
class ModelLanguages:
    """The language tokens of one model and how its tokenizer places the source one."""

    family: Family | None
    codes: dict[str, int]  # language token -> id
    prefix: tuple[int, ...] = ()  # the template; -1 marks the source language's place
    suffix: tuple[int, ...] = ()
    overrides: LanguageCodes = NO_OVERRIDES

    @property
    def multilingual(self) -> bool:
        return self.family is not None

    @property
    def ids(self) -> frozenset[int]:
        return frozenset(self.codes.values())

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, overrides: LanguageCodes) -> ModelLanguages:
        name = type(tokenizer).__name__
        family = next((f for marker, f in _FAMILY_BY_TOKENIZER if marker in name), None)
        if family is None:
            return cls(None, {})
        codes = _language_codes(tokenizer, family)
        ids = set(codes.values())
        # Where the tokenizer puts its current source language is where each job's goes.
        prefix = tuple(-1 if t in ids else int(t) for t in tokenizer.prefix_tokens)
        suffix = tuple(-1 if t in ids else int(t) for t in tokenizer.suffix_tokens)
        return cls(family, codes, prefix, suffix, overrides)

    def token_for(self, tag: str) -> str | None:
        if self.family is None:
            return None
        return model_code(tag, self.family, self.codes.keys(), self.overrides)

    def pair(self, source: str, target: str) -> LanguagePair | None:
        """The pair's encoding on this model; None when the model cannot serve it."""
        if self.family is None:
            return BILINGUAL
        source_token, target_token = self.token_for(source), self.token_for(target)
        if source_token is None or target_token is None:
            return None
        source_id = self.codes[source_token]
        return LanguagePair(
            source_prefix=tuple(source_id if t == -1 else t for t in self.prefix),
            source_suffix=tuple(source_id if t == -1 else t for t in self.suffix),
            target_prefix=(self.codes[target_token],),
            explicit=True,
        )

    def encode(self, tokenizer: Any, texts: Sequence[str], pair: LanguagePair) -> list[list[int]]:
        """Token ids of ``texts`` with ``pair``'s source-language tokens (never truncated)."""
        encoded = encode_texts(tokenizer, texts, add_special_tokens=not pair.explicit)
        if not pair.explicit:
            return encoded
        return [[*pair.source_prefix, *ids, *pair.source_suffix] for ids in encoded]

    def strip(self, outputs: Iterable[Sequence[int]]) -> list[list[int]]:
        """Outputs without language tokens (some tokenizers do not mark them special)."""
        drop = self.ids
        return [[t for t in row if t not in drop] for row in outputs]


def _language_codes(tokenizer: Any, family: Family) -> dict[str, int]:
    candidates = set(tokenizer.get_vocab())
    candidates.update(getattr(tokenizer, "lang_token_to_id", {}))  # M2M100's, outside vocab
    candidates.update(str(t) for t in getattr(tokenizer, "additional_special_tokens", []) or [])
    unknown = tokenizer.unk_token_id
    codes = {}
    for token in language_tokens(candidates, family):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != unknown:
            codes[token] = token_id
    return codes
