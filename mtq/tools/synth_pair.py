"""A synthetic language pair whose correct translation and word alignment are known.

The source side is simple English (determiner, optional adjective, noun; a verb; an optional
prepositional phrase; sometimes two clauses joined by a conjunction). The target language,
"Tarvo", is invented: each source word has exactly one target word (a fixed dictionary built
from a seed), and three reordering rules make the alignment non-monotone:

- adjectives follow their noun (``the big dog`` -> ``lo dog big``);
- prepositions follow their noun phrase (``in the house`` -> ``the house in``);
- the verb ends its clause, after the prepositional phrase and the object
  (``S V O PP`` -> ``S PP O V``).

Every sentence ends in ``.`` or ``?`` written against the last word, as in English. Words are
lower case, so the word alignment is a permutation: :class:`Pair` carries it, by word index
(the final mark is its own word, aligned to the final mark).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

_NOUNS = (
    "dog cat house tree river city child woman man bird horse fish book door window table "
    "chair road hill field garden farmer teacher doctor king queen boat ship stone flower "
    "apple bread milk water fire wind rain snow sun moon star sky forest lake island bridge "
    "tower wall roof floor kitchen room market shop school church village mountain valley "
    "letter song story game ball box bag cup plate knife spoon bottle lamp clock bell coin "
    "ring key hat coat shoe shirt friend brother sister mother father son daughter baby "
    "soldier sailor singer painter baker driver student worker guard thief priest cook "
    "wolf bear fox rabbit mouse goat sheep cow pig duck goose frog snake lion tiger owl "
    "egg cheese soup rice cake honey salt sugar wine tea paper pen map rope wheel cart "
    "train car boot drum flag tent nest cave shore sand grass leaf seed root branch"
).split()
_ADJECTIVES = (
    "big small old young red blue green black white yellow tall short long quick slow "
    "happy sad angry quiet loud warm cold hot dark bright heavy light rich poor strong weak "
    "clean dirty new fresh sweet bitter soft hard wet dry empty full brave clever kind "
    "proud shy wild gentle round flat sharp thin thick narrow wide deep strange famous"
).split()
_TRANSITIVE = (
    "sees finds takes holds likes loves hates carries brings buys sells gives wants needs "
    "opens closes builds breaks paints cleans watches follows helps meets calls visits "
    "pulls pushes throws catches eats drinks reads writes hears knows remembers forgets "
    "keeps leaves moves lifts drops washes cooks cuts fixes hides shows teaches"
).split()
_INTRANSITIVE = (
    "sleeps runs walks sings dances waits sits stands laughs cries swims jumps falls "
    "works rests smiles talks listens dreams shouts"
).split()
NOUNS: tuple[str, ...] = tuple(_NOUNS)  # public: benchmarks pick glossary terms among them
_PREPOSITIONS = "in on near under behind with from to over beside into across".split()
_DETERMINERS = "the a this that my your every some his her our their".split()
_CONJUNCTIONS = "and but while because".split()
_MARKS = (".", ".", ".", "?")

_ONSETS = [*"b d f g k l m n p r s t v z".split(), "sh", "tr", "kl", "br"]
_VOWELS = [*"a e i o u".split(), "ai", "ou"]
_CODAS = ["", "", "", "n", "r", "l", "s"]


@dataclass(frozen=True)
class Pair:
    """One sentence pair and its word alignment: ``alignment[i]`` is the target word of
    source word ``i`` (words split on spaces, with the final mark as a word of its own)."""

    source: str
    target: str
    alignment: tuple[int, ...]

    @property
    def source_words(self) -> list[str]:
        return _words(self.source)

    @property
    def target_words(self) -> list[str]:
        return _words(self.target)


def _words(sentence: str) -> list[str]:
    return [*sentence[:-1].split(), sentence[-1]]


def _invent(rng: random.Random, taken: set[str]) -> str:
    while True:
        syllables = rng.choice((2, 2, 3))
        word = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + (rng.choice(_CODAS) if k else "")
            for k in range(syllables)
        )
        if word not in taken:
            taken.add(word)
            return word


def dictionary(seed: int = 2025) -> dict[str, str]:
    """The fixed bilingual dictionary: every source word to one distinct target word."""
    rng = random.Random(seed)
    source = [*_NOUNS, *_ADJECTIVES, *_TRANSITIVE, *_INTRANSITIVE, *_PREPOSITIONS,
              *_DETERMINERS, *_CONJUNCTIONS]
    taken = set(source)
    return {word: _invent(rng, taken) for word in source}


# A phrase is a list of source word indexes, built and reordered by the rules.
_Phrase = list[int]


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words: list[str] = []

    def add(self, choices: list[str]) -> int:
        self.words.append(self.rng.choice(choices))
        return len(self.words) - 1

    def noun_phrase(self) -> _Phrase:
        """Source order ``det [adj] noun``; target order ``det noun [adj]``."""
        det = self.add(_DETERMINERS)
        adjective = self.add(_ADJECTIVES) if self.rng.random() < 0.5 else None
        noun = self.add(_NOUNS)
        return [det, noun] + ([adjective] if adjective is not None else [])

    def clause(self) -> _Phrase:
        subject = self.noun_phrase()
        transitive = self.rng.random() < 0.7
        verb = self.add(_TRANSITIVE if transitive else _INTRANSITIVE)
        obj = self.noun_phrase() if transitive else []
        place: _Phrase = []
        if self.rng.random() < 0.4:
            preposition = self.add(_PREPOSITIONS)
            place = [*self.noun_phrase(), preposition]
        return [*subject, *place, *obj, verb]


def _pair(rng: random.Random, vocabulary: dict[str, str]) -> Pair:
    builder = _Builder(rng)
    order = builder.clause()
    if rng.random() < 0.2:
        order.append(builder.add(_CONJUNCTIONS))
        order.extend(builder.clause())
    mark = rng.choice(_MARKS)
    source = " ".join(builder.words) + mark
    target = " ".join(vocabulary[builder.words[k]] for k in order) + mark
    alignment = [0] * len(builder.words)
    for position, k in enumerate(order):
        alignment[k] = position
    count = len(builder.words)
    return Pair(source, target, (*alignment, count))


def pairs(count: int, seed: int, dictionary_seed: int = 2025) -> Iterator[Pair]:
    """``count`` sentence pairs from ``seed`` (the dictionary is the same for every seed)."""
    vocabulary = dictionary(dictionary_seed)
    rng = random.Random(seed)
    for _ in range(count):
        yield _pair(rng, vocabulary)
