"""Language codes of the compatible APIs, mapped onto the routes of ``MTQ_ROUTES``.

mtq tags are ``de``, ``pt_BR``, ``zh_Hans``; DeepL writes ``DE``, ``PT-BR``, ``ZH-HANS`` and
LibreTranslate ``de``, ``pt-BR``. A code with a variant (``EN-GB``) picks the route of that
variant when one is served, else the route of its base language (``en``).
"""

from __future__ import annotations

from mtq.core.languages import parse_route

# Display names for /v2/languages and /languages; a tag not listed is shown as its code.
NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "fi": "Finnish",
    "fr": "French", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "nb": "Norwegian", "nl": "Dutch",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak",
    "sl": "Slovenian", "sv": "Swedish", "tr": "Turkish", "uk": "Ukrainian", "zh": "Chinese",
}


def pairs(routes: tuple[str, ...]) -> list[tuple[str, str]]:
    return [parse_route(route) for route in routes]


def tag_of(code: str) -> str:
    """``PT-BR`` / ``pt-BR`` / ``pt_BR`` → ``pt_BR``; ``ZH-HANS`` → ``zh_Hans``."""
    base, _, variant = code.replace("_", "-").partition("-")
    if not variant:
        return base.lower()
    variant = variant.upper() if len(variant) <= 3 else variant.title()
    return f"{base.lower()}_{variant}"


def name_of(tag: str) -> str:
    base = tag.partition("_")[0]
    name = NAMES.get(base, tag)
    return name if base == tag else f"{name} ({tag.partition('_')[2]})"


def resolve(routes: tuple[str, ...], source: str, target: str) -> tuple[str, str] | None:
    """The served (source, target) pair the codes name, or None."""
    served = set(pairs(routes))
    for src in dict.fromkeys((tag_of(source), tag_of(source).partition("_")[0])):
        for tgt in dict.fromkeys((tag_of(target), tag_of(target).partition("_")[0])):
            if (src, tgt) in served:
                return src, tgt
    return None


def deepl_code(tag: str) -> str:
    return tag.replace("_", "-").upper()


def libre_code(tag: str) -> str:
    return tag.replace("_", "-")
