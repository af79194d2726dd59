"""The terminology benchmark's workloads: sentences, a glossary, a do-not-translate list, and
(on the trained model) the reference translation with the terms put in.

- ``tiny``: the tiny model's generated English-like sentences; its translations are
  meaningless, so only recall, report accuracy and cost mean something.
- ``trained``: held-out sentences of the synthetic pair (``mtq.tools.synth_pair``) that the
  trained model (``mtq.tools.trained_model``) really translates; 30 glossary nouns get new
  invented targets, 10 nouns are kept untranslated (do-not-translate: the pair has no names or
  places); the term reference is the known translation with each term's aligned target word
  replaced.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from mtq.core.terms import TermEntry
from mtq.tools.synth_pair import NOUNS, Pair, dictionary, pairs

_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Workload:
    name: str
    sources: list[str]
    entries: list[TermEntry]
    references: list[str] | None = None  # plain reference translations
    term_references: list[str] | None = None  # with the terms' targets in
    # per sentence, (target word index, term target) where the alignment puts each term
    slots: list[list[tuple[int, str]]] | None = None


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
    """``count`` sentence pairs of the held-out seed (the first 500 are ``TRAINING.json``'s
    held-out set); the synthetic pair has no proper nouns, so do-not-translate entries are
    nouns kept in English."""
    from mtq.tools.train_pair import HELD_OUT_SEED

    examples = list(pairs(count, HELD_OUT_SEED))
    table = dictionary()
    nouns = sorted(NOUNS)  # the same glossary whatever the count
    rng = random.Random(seed)
    rng.shuffle(nouns)
    taken = {*table, *table.values()}
    # lower case like the target language's words: a glossary term the model could write
    glossary = {noun: invented(rng, taken).lower() for noun in nouns[:30]}
    kept = nouns[30:40]
    entries = [TermEntry(s, t) for s, t in glossary.items()]
    entries += [TermEntry(n, n) for n in kept]
    replaced = {**glossary, **{n: n for n in kept}}
    slots = [term_slots(p, replaced) for p in examples]
    return Workload("trained", [p.source for p in examples], entries,
                    [p.target for p in examples],
                    [term_reference(p, s) for p, s in zip(examples, slots, strict=True)],
                    slots)


def term_slots(pair: Pair, replaced: dict[str, str]) -> list[tuple[int, str]]:
    """Where each term's target belongs: the target word aligned with the source term."""
    return [(pair.alignment[index], replaced[word])
            for index, word in enumerate(pair.source_words) if word in replaced]


def term_reference(pair: Pair, slots: list[tuple[int, str]]) -> str:
    """The known translation with the aligned target word of each term replaced."""
    words = pair.target_words
    for position, target in slots:
        words[position] = target
    return joined(words)


def joined(words: list[str]) -> str:
    """Words back into a sentence, the final mark against the last word."""
    return " ".join(words[:-1]) + words[-1]


def split(sentence: str) -> list[str]:
    """A sentence of the pair as words, the final mark one of them (as ``Pair`` splits)."""
    stripped = sentence.strip()
    if stripped[-1:] in ".?":
        return [*stripped[:-1].split(), stripped[-1]]
    return stripped.split()
