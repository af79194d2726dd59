"""Language tags in jobs, and the codes multilingual model families expect for them.

A job names its languages with short tags: an ISO 639-1 or 639-3 language (``de``, ``deu``,
``ast``), optionally followed by ``_``-separated BCP 47 subtags, a script (``zh_Hant``,
``sr_Latn``) and/or a region (``pt_BR``, ``es_419``, ``fr_CA``). ``-`` stays the pair
separator of the routing key (``en-pt_BR``), so BCP 47's own ``-`` becomes ``_`` in a tag.
FLORES-200 codes are tags too (``zho_Hant`` is language ``zho``, script ``Hant``).

How a tag becomes a model code (:func:`model_code`), given the language tokens the loaded
model really has:

1. An override (``MTQ_LANGUAGE_CODES="yue=yue_Hant pt_BR=__pt__"``) that names a token the
   model has wins. A tag may be listed several times, one per model family.
2. The script must match: a tag's script, or the language's usual script when it names none
   (``zh`` is ``zh_Hans``). A family without script codes (M2M100, mBART-50) serves a language
   only in its usual script: ``zh_Hant`` is not served by M2M100, never silently turned into
   Simplified Chinese. NLLB has both (``zho_Hans``, ``zho_Hant``).
3. A region is used where the family has regional codes (mBART-50's ``pt_XX`` is the only
   Portuguese; a ``pt_BR`` code would be chosen if the model had one) and otherwise falls back
   to its language: no public multilingual model distinguishes pt-BR from pt-PT, and the
   override (or a dedicated model per route in ``MTQ_MODELS``) is how an operator says
   otherwise.

No code found means the pair is refused at admission (``unsupported_language_pair``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from mtq.core.errors import ConfigError
from mtq.core.language_table import (
    DEFAULT_SCRIPT,
    FLORES_200,
    ISO1_TO_ISO3,
    M2M100_ALIASES,
)

# The one language-tag rule of mtq (jobs, routes, overrides): alphanumerics, with "_" before
# BCP 47 subtags (pt_BR, zh_Hant), at most 12 characters.
LANGUAGE_TAG_PATTERN = r"^[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*$"
MAX_TAG_CHARS = 12
_TAG = re.compile(LANGUAGE_TAG_PATTERN)


def is_language_tag(text: str) -> bool:
    """Whether ``text`` is a language tag of the contract (``de``, ``pt_BR``, ``zho_Hant``)."""
    return len(text) <= MAX_TAG_CHARS and _TAG.fullmatch(text) is not None


def parse_route(route: str) -> tuple[str, str]:
    """Split ``en-pt_BR`` into ``("en", "pt_BR")``; raise ConfigError when malformed."""
    parts = route.split("-")
    if len(parts) != 2 or not all(is_language_tag(p) for p in parts):
        raise ConfigError(f"route {route!r} must look like 'en-de' or 'en-pt_BR' (source-target)")
    return parts[0], parts[1]


_ISO3_TO_ISO1 = {iso3: iso1 for iso1, iso3 in ISO1_TO_ISO3.items() if iso1 not in ("nb",)}
_FLORES_SCRIPTS: dict[str, set[str]] = {}
for _code in FLORES_200:
    _FLORES_SCRIPTS.setdefault(_code.split("_")[0], set()).add(_code.split("_")[1])


class Family(str, Enum):
    """How a multilingual model spells languages."""

    NLLB = "nllb"  # FLORES-200: deu_Latn
    M2M100 = "m2m100"  # __de__
    MBART50 = "mbart50"  # de_DE


_TOKEN_PATTERNS = {
    Family.NLLB: re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$"),
    Family.M2M100: re.compile(r"^__[a-z]{2,3}__$"),
    Family.MBART50: re.compile(r"^[a-z]{2}_[A-Z]{2}$"),
}


@dataclass(frozen=True)
class Tag:
    """A parsed tag, case-normalized: ``pt``, ``pt_BR``, ``zh_Hant``, ``es_419``."""

    language: str
    script: str = ""
    region: str = ""

    def __str__(self) -> str:
        return "_".join(part for part in (self.language, self.script, self.region) if part)

    @property
    def iso3(self) -> str:
        return ISO1_TO_ISO3.get(self.language, self.language)

    @property
    def iso1(self) -> str:
        return _ISO3_TO_ISO1.get(self.language, self.language)


def parse_tag(text: str) -> Tag | None:
    """``pt_br`` -> ``Tag("pt", "", "BR")``; None when it is not language[_Script][_Region]."""
    parts = text.split("_")
    language = parts[0].lower()
    if not (2 <= len(language) <= 3 and language.isalpha() and language.isascii()):
        return None
    script = region = ""
    rest = parts[1:]
    if rest and len(rest[0]) == 4 and rest[0].isalpha():
        script = rest.pop(0).title()
    if rest and ((len(rest[0]) == 2 and rest[0].isalpha()) or
                 (len(rest[0]) == 3 and rest[0].isdigit())):
        region = rest.pop(0).upper()
    if rest or not (script or region or len(parts) == 1):
        return None
    return Tag(language, script, region)


def usual_script(tag: Tag) -> str | None:
    """The script a language is written in when its tag names none (None: several, unknown)."""
    iso3 = tag.iso3
    if iso3 in DEFAULT_SCRIPT:
        return DEFAULT_SCRIPT[iso3]
    scripts = _FLORES_SCRIPTS.get(iso3, set())
    return next(iter(scripts)) if len(scripts) == 1 else None


@dataclass(frozen=True)
class LanguageCodes:
    """Operator overrides (``MTQ_LANGUAGE_CODES``): tag -> model tokens, first one present wins."""

    overrides: Mapping[str, tuple[str, ...]]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> LanguageCodes:
        table: dict[str, tuple[str, ...]] = {}
        for entry in entries:
            tag, sep, token = entry.partition("=")
            if not sep or not tag or not token or not is_language_tag(tag):
                raise ConfigError(
                    f"MTQ_LANGUAGE_CODES: {entry!r} must look like 'pt_BR=por_Latn' (tag=token)"
                )
            key = _key(tag)
            table[key] = (*table.get(key, ()), token)
        return cls(table)

    def tokens_for(self, tag: str) -> tuple[str, ...]:
        return self.overrides.get(_key(tag), ())


NO_OVERRIDES = LanguageCodes({})


def _key(tag: str) -> str:
    parsed = parse_tag(tag)
    return str(parsed) if parsed else tag.lower()


def family_of(tokens: Iterable[str]) -> Family | None:
    """The family whose language tokens a vocabulary holds (at least two of them)."""
    counts = dict.fromkeys(Family, 0)
    for token in tokens:
        for family, pattern in _TOKEN_PATTERNS.items():
            if pattern.match(token):
                counts[family] += 1
    family, count = max(counts.items(), key=lambda item: item[1])
    return family if count >= 2 else None


def language_tokens(tokens: Iterable[str], family: Family) -> frozenset[str]:
    """The tokens of a vocabulary that are ``family`` language codes."""
    pattern = _TOKEN_PATTERNS[family]
    return frozenset(token for token in tokens if pattern.match(token))


def model_code(
    tag: str, family: Family, available: Collection[str],
    overrides: LanguageCodes = NO_OVERRIDES,
) -> str | None:
    """The language token of a model of ``family`` for ``tag``, or None when it has none."""
    for token in overrides.tokens_for(tag):
        if token in available:
            return token
    parsed = parse_tag(tag)
    if parsed is None:
        return None
    if family is Family.NLLB:
        return _flores_code(parsed, available)
    script = usual_script(parsed)
    if parsed.script and parsed.script != script:
        return None  # M2M100 and mBART-50 only know each language in its usual script
    if family is Family.M2M100:
        code = M2M100_ALIASES.get(parsed.language, parsed.iso1)
        token = f"__{code}__"
        return token if token in available else None
    return _mbart_code(parsed, available)


def _flores_code(tag: Tag, available: Collection[str]) -> str | None:
    iso3 = tag.iso3
    script = tag.script or DEFAULT_SCRIPT.get(iso3, "")
    if script:
        code = f"{iso3}_{script}"
        return code if code in available else None
    candidates = [code for code in available if code.startswith(f"{iso3}_")]
    return candidates[0] if len(candidates) == 1 else None


def _mbart_code(tag: Tag, available: Collection[str]) -> str | None:
    if tag.region and f"{tag.iso1}_{tag.region}" in available:
        return f"{tag.iso1}_{tag.region}"
    candidates = [code for code in available if code.startswith(f"{tag.iso1}_")]
    return candidates[0] if len(candidates) == 1 else None
