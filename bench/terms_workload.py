"""The terminology benchmark's workloads: sentences, a glossary, a do-not-translate list, and
(on the trained model) the reference translation with the terms put in.

- ``tiny``: the tiny model's generated English-like sentences; its translations are
  meaningless, so only recall, report accuracy and cost mean something.
- ``trained``: held-out sentences of the synthetic pair (``mtq.tools.synthetic_pair``) that the
  trained model really translates; glossary nouns get new invented targets, some nouns are
  kept untranslated, names and places are do-not-translate strings; the reference is the
  known translation with each term's aligned target word replaced.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from mtq.core.terms import TermEntry

_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Workload:
    name: str
    sources: list[str]
    entries: list[TermEntry]
    references: list[str] | None = None  # plain reference translations
    term_references: list[str] | None = None  # with the terms' targets in


def invented(rng: random.Random, taken: set[str]) -> str:
    while True:
        word = "".join(rng.choice("BDFGKLMNPRSTVZ") + rng.choice("aeiou") for _ in range(1)) + \
            "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(2))
        if word.lower() not in taken:
            taken.add(word.lower())
            return word


def tiny(count: int, seed: int = 7) -> Workload:
    from mtq.tools.tiny_corpus import generated_sentences

    sources = [s for s in generated_sentences(count * 3, seed) if len(s) < 200][:count]
    counts: dict[str, int] = {}
    for source in sources:
        for word in _WORD.findall(source.lower()):
            if len(word) > 4:
                counts[word] = counts.get(word, 0) + 1
    frequent = sorted(counts, key=lambda w: (-counts[w], w))[:60]
    rng = random.Random(seed)
    taken = set(counts)
    entries = [TermEntry(w, invented(rng, taken)) for w in frequent[:40]]
    entries += [TermEntry(w, w) for w in frequent[40:50]]  # do not translate
    return Workload("tiny", sources, entries)


def trained(count: int, seed: int = 11) -> Workload:
    from mtq.tools.synthetic_pair import NAMES, NOUNS, PLACES, lexicon
    from mtq.tools.trained import held_out_pairs

    pairs = held_out_pairs(count)
    rng = random.Random(seed)
    table = lexicon()
    taken = {*table, *table.values(), *(n.lower() for n in NAMES + PLACES)}
    nouns = sorted(NOUNS)
    rng.shuffle(nouns)
    glossary = {noun: invented(rng, taken) for noun in nouns[:30]}
    kept_nouns = nouns[30:40]
    entries = [TermEntry(s, t) for s, t in glossary.items()]
    entries += [TermEntry(n, n) for n in kept_nouns]
    entries += [TermEntry(n, n) for n in NAMES[:8] + PLACES[:6]]
    replaced = {**glossary, **{n: n for n in kept_nouns}}
    term_refs = []
    for pair in pairs:
        words = _words(pair.source)
        target = _words(pair.target)
        swapped = [replaced.get(words[pair.alignment[j]].lower(), w) if j < len(pair.alignment)
                   else w for j, w in enumerate(target)]
        term_refs.append(_rejoin(swapped, pair.target))
    return Workload("trained", [p.source for p in pairs], entries,
                    [p.target for p in pairs], term_refs)


def _words(text: str) -> list[str]:
    return text[:-1].split() if text[-1:] in ".!" else text.split()


def _rejoin(words: list[str], like: str) -> str:
    mark = like[-1] if like[-1:] in ".!" else ""
    if words and like[:1].isupper():
        words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words) + mark
