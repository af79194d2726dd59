"""Glossary files read into entries: TSV, CSV and TBX.

- TSV / CSV: one entry per row, ``source`` then ``target`` (a row with one column, or with an
  empty target, is a do-not-translate string); an optional header row ``source,target``;
  CSV quoting as the ``csv`` module reads it (Excel's dialect, or the sniffed delimiter).
- TBX (ISO 30042; TBX-Basic's ``martif/text/body/termEntry/langSet/tig/term`` and TBX v3's
  ``tbx/text/body/conceptEntry/langSec/termSec/term``): each concept's first term in the
  source language maps to its first term in the target language; a language tag matches its
  region variants (``en`` matches ``en-US``). A concept whose target-language term is missing
  is skipped; ``<termNote type="translationNote">no</termNote>`` (or a concept with no target
  term but marked ``doNotTranslate``) makes a do-not-translate entry.

TBX is read with the standard library's XML parser, not a third-party one: the maintained TBX
reader for Python (translate-toolkit's) is GPL-licensed and reads TBX-Basic only. The parser
is given no DTD, and a file that declares entities is refused before parsing (no entity
expansion, no external fetches).
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable

from mtq.core.terms.entries import TermEntry

FORMATS = ("tsv", "csv", "tbx")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_ENTITY_DECLARATION = re.compile(r"<!ENTITY", re.IGNORECASE)


class GlossaryFileError(ValueError):
    """A file that cannot be read as a glossary (the message names the line or entry)."""


def format_of(name: str, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix in FORMATS:
        return suffix
    if suffix == "txt":
        return "tsv"
    raise GlossaryFileError(f"{name}: cannot tell the format; use --format tsv, csv or tbx")


def read_entries(data: bytes, fmt: str, source_lang: str = "", target_lang: str = ""
                 ) -> list[TermEntry]:
    if fmt == "tbx":
        return read_tbx(data, source_lang, target_lang)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GlossaryFileError(f"not UTF-8 (byte {exc.start})") from exc
    if fmt == "tsv":
        rows: Iterable[list[str]] = (line.split("\t") for line in text.splitlines())
    else:
        rows = csv.reader(io.StringIO(text, newline=""))
    return _rows(rows)


def _rows(rows: Iterable[list[str]]) -> list[TermEntry]:
    entries: list[TermEntry] = []
    for number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        while cells and not cells[-1]:
            cells.pop()
        if not cells or cells[0].startswith("#"):
            continue
        if number == 1 and [c.lower() for c in cells[:2]] == ["source", "target"]:
            continue
        if len(cells) > 2:
            raise GlossaryFileError(f"line {number}: {len(cells)} columns; want source, target")
        if not cells[0]:
            raise GlossaryFileError(f"line {number}: the source is empty")
        entries.append(TermEntry(cells[0], cells[1] if len(cells) > 1 else cells[0]))
    return entries


def read_tbx(data: bytes, source_lang: str, target_lang: str) -> list[TermEntry]:
    head = data[:65536].decode("utf-8", errors="replace")
    if _ENTITY_DECLARATION.search(head):
        raise GlossaryFileError("TBX files that declare entities are not read")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise GlossaryFileError(f"not well-formed XML: {exc}") from exc
    entries: list[TermEntry] = []
    for concept in root.iter():
        if _local(concept.tag) not in ("termEntry", "conceptEntry"):
            continue
        entry = _concept(concept, source_lang, target_lang)
        if entry is not None:
            entries.append(entry)
    return entries


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _concept(concept: ElementTree.Element, source_lang: str, target_lang: str
             ) -> TermEntry | None:
    source = target = None
    keep = False
    for section in concept:
        if _local(section.tag) not in ("langSet", "langSec"):
            continue
        lang = section.get(_XML_LANG) or section.get("lang") or ""
        terms = [t for t in section.iter() if _local(t.tag) == "term" and (t.text or "").strip()]
        notes = " ".join((n.text or "") for n in section.iter() if _local(n.tag) == "termNote"
                         and n.get("type") in ("translationNote", "doNotTranslate"))
        if not terms:
            continue
        text = " ".join("".join(terms[0].itertext()).split())
        if _same_language(lang, source_lang) and source is None:
            source = text
            keep = keep or notes.strip().lower() in ("no", "false", "donottranslate")
        elif _same_language(lang, target_lang) and target is None:
            target = text
    if source is None:
        return None
    if keep:
        return TermEntry(source, source)
    return TermEntry(source, target) if target is not None else None


def _same_language(tag: str, wanted: str) -> bool:
    if not wanted:
        return False
    tag, wanted = tag.replace("_", "-").lower(), wanted.replace("_", "-").lower()
    return tag == wanted or tag.startswith(wanted + "-")
