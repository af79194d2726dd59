"""Language tags to model codes (mtq/core/languages.py): pure, no model loaded."""

from __future__ import annotations

import pytest

from mtq.core.errors import ConfigError
from mtq.core.language_table import FLORES_200, M2M100, MBART_50
from mtq.core.languages import (
    Family,
    LanguageCodes,
    Tag,
    family_of,
    model_code,
    parse_route,
    parse_tag,
)

NLLB_CODES = frozenset(FLORES_200)
M2M_CODES = frozenset(f"__{code}__" for code in M2M100)
MBART_CODES = frozenset(MBART_50)
AVAILABLE = {Family.NLLB: NLLB_CODES, Family.M2M100: M2M_CODES, Family.MBART50: MBART_CODES}


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("de", Tag("de")),
        ("DE", Tag("de")),
        ("pt_br", Tag("pt", "", "BR")),
        ("zh_hant", Tag("zh", "Hant")),
        ("zh_Hant_TW", Tag("zh", "Hant", "TW")),
        ("es_419", Tag("es", "", "419")),
        ("deu_Latn", Tag("deu", "Latn")),
    ],
)
def test_tags_parse_case_insensitively(text: str, tag: Tag) -> None:
    assert parse_tag(text) == tag


@pytest.mark.parametrize("text", ["", "x", "german", "de_x", "de_Latn_BR_x", "1a"])
def test_unreadable_tags_are_none(text: str) -> None:
    assert parse_tag(text) is None


@pytest.mark.parametrize(
    ("tag", "nllb", "m2m100", "mbart50"),
    [
        ("de", "deu_Latn", "__de__", "de_DE"),
        ("deu", "deu_Latn", "__de__", "de_DE"),
        ("deu_Latn", "deu_Latn", "__de__", "de_DE"),
        ("en", "eng_Latn", "__en__", "en_XX"),
        ("ar", "arb_Arab", "__ar__", "ar_AR"),
        ("fa", "pes_Arab", "__fa__", "fa_IR"),
        ("zh", "zho_Hans", "__zh__", "zh_CN"),
        ("zh_Hans", "zho_Hans", "__zh__", "zh_CN"),
        ("no", "nob_Latn", "__no__", None),
        ("nso", "nso_Latn", "__ns__", None),
        ("ast", "ast_Latn", "__ast__", None),
        ("yue", "yue_Hant", None, None),
    ],
)
def test_languages_map_to_each_family(
    tag: str, nllb: str | None, m2m100: str | None, mbart50: str | None
) -> None:
    assert model_code(tag, Family.NLLB, NLLB_CODES) == nllb
    assert model_code(tag, Family.M2M100, M2M_CODES) == m2m100
    assert model_code(tag, Family.MBART50, MBART_CODES) == mbart50


@pytest.mark.parametrize("family", list(Family))
@pytest.mark.parametrize("tag", ["pt_BR", "pt_PT", "es_419", "fr_CA"])
def test_regions_fall_back_to_their_language(family: Family, tag: str) -> None:
    base = tag.split("_")[0]
    assert model_code(tag, family, AVAILABLE[family]) == model_code(base, family,
                                                                    AVAILABLE[family])


def test_a_regional_code_wins_where_the_model_has_one() -> None:
    assert model_code("pt_BR", Family.MBART50, MBART_CODES | {"pt_BR"}) == "pt_BR"
    assert model_code("pt_PT", Family.MBART50, MBART_CODES | {"pt_BR"}) is None  # ambiguous


def test_scripts_never_fall_back() -> None:
    assert model_code("zh_Hant", Family.NLLB, NLLB_CODES) == "zho_Hant"
    assert model_code("zh_Hant", Family.M2M100, M2M_CODES) is None
    assert model_code("zh_Hant", Family.MBART50, MBART_CODES) is None
    assert model_code("sr_Latn", Family.NLLB, NLLB_CODES) is None  # only srp_Cyrl
    assert model_code("kas", Family.NLLB, NLLB_CODES) is None  # Arab or Deva: say which
    assert model_code("kas_Deva", Family.NLLB, NLLB_CODES) == "kas_Deva"


def test_every_model_code_is_reachable_from_a_short_tag() -> None:
    assert all(model_code(c, Family.NLLB, NLLB_CODES) == c for c in FLORES_200)
    assert all(model_code(c, Family.M2M100, M2M_CODES) == f"__{c}__" for c in M2M100)
    assert all(model_code(c.split("_")[0], Family.MBART50, MBART_CODES) == c for c in MBART_50)


def test_unknown_tags_are_unsupported() -> None:
    for family, codes in AVAILABLE.items():
        assert model_code("xx", family, codes) is None
        assert model_code("klingon", family, codes) is None


def test_overrides_win_when_the_model_has_the_token() -> None:
    overrides = LanguageCodes.parse(["yue=__zh__", "pt_br=por_Latn", "PT_BR=__pt__", "x1=xyz"])
    assert model_code("yue", Family.M2M100, M2M_CODES, overrides) == "__zh__"
    assert model_code("pt_BR", Family.NLLB, NLLB_CODES, overrides) == "por_Latn"
    assert model_code("pt_BR", Family.M2M100, M2M_CODES, overrides) == "__pt__"
    assert model_code("x1", Family.NLLB, NLLB_CODES, overrides) is None  # not in the model


@pytest.mark.parametrize("entry", ["pt_BR", "=por_Latn", "pt_BR=", "pt-BR=por_Latn"])
def test_bad_overrides_are_one_line_config_errors(entry: str) -> None:
    with pytest.raises(ConfigError, match="MTQ_LANGUAGE_CODES"):
        LanguageCodes.parse([entry])


def test_families_are_recognised_from_their_tokens() -> None:
    assert family_of(["a", *FLORES_200[:3]]) is Family.NLLB
    assert family_of([f"__{c}__" for c in M2M100[:3]]) is Family.M2M100
    assert family_of(MBART_50[:3]) is Family.MBART50
    assert family_of(["hello", "world", "de_DE"]) is None


def test_routes_accept_regional_tags_additively() -> None:
    assert parse_route("en-de") == ("en", "de")
    assert parse_route("en-pt_BR") == ("en", "pt_BR")
    assert parse_route("zh_Hant-es_419") == ("zh_Hant", "es_419")
    for bad in ("en-pt-BR", "en_-de", "en-", "en-de_Latn_BR_x1_extra"):
        with pytest.raises(ConfigError):
            parse_route(bad)


def _body(source: str, target: str) -> bytes:
    import json

    return json.dumps({
        "job_id": "j1", "source_lang": source, "target_lang": target, "segments": ["Hi."],
        "callback_url": "https://client.example/h",
    }).encode()


def test_jobs_carry_regional_tags_and_the_old_ones_still_parse() -> None:
    from mtq.core.contract import JobLimits, parse_job

    for source, target in (("en", "de"), ("en", "pt_BR"), ("zh_Hant", "es_419"), ("deu", "fra")):
        job = parse_job(_body(source, target), JobLimits(), routes=(f"{source}-{target}",))
        assert (job.source_lang, job.target_lang) == (source, target)
        assert job.route == f"{source}-{target}"


@pytest.mark.parametrize("target", ["pt-BR", "pt_", "_BR", "pt__BR", "zh_Hant_TW_xyz"])
def test_malformed_tags_are_invalid_jobs(target: str) -> None:
    from mtq.core.contract import ErrorCode, InvalidJob, JobLimits, parse_job

    with pytest.raises(InvalidJob) as caught:
        parse_job(_body("en", target), JobLimits())
    assert caught.value.code is ErrorCode.INVALID_JOB
