"""Markup placement measured on the trained model, against the pair's known word alignment.

Each case is a sentence of :mod:`mtq.tools.synth_pair` with codes around words: a pair of tags
around one word, a pair around a phrase with a nested pair inside it, a standalone code before
a word, a placeholder after one (HTML: ``<b>``, ``<i>``, ``<br/>``; XML: XLIFF ``<g id>``,
``<x id/>``; placeholders ``{name}`` and ``%s``). Words the reordering moves are chosen first.
The reference is the target sentence with each code at the words the alignment says.

A code is placed exactly when every boundary it sits on (open and close for a pair) is the
reference's, counted in target words; only segments whose words are translated exactly count
(elsewhere "where it belongs" is undefined). :func:`place` runs mtq's own masking, the engine's
attention and the restorer, as the worker does; ``monotone`` places the same codes without
an alignment, at the same relative position as in the source (the baseline).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mtq.core.markup import mask, restore
from mtq.tools.synth_pair import Pair, pairs
from worker.engines.alignment import char_alignment

_CODE = re.compile(r"<[^>]+>|\{\w+\}|%s")
_TOKEN = re.compile(r"<[^>]+>|\{\w+\}|%s|[.?]|[^\s<{%.?]+")


@dataclass(frozen=True)
class Case:
    source: str  # with codes
    reference: str  # the target with each code where the alignment puts it
    plain: str  # the reference's words without codes
    markup: str  # "html" or "xml"
    placeholders: tuple[str, ...]


def _contiguous(at: Sequence[int], start: int, end: int) -> bool:
    targets = sorted(at[start:end])
    return targets == list(range(targets[0], targets[0] + len(targets)))


def _case(pair: Pair, rng: random.Random, xml: bool) -> Case:
    """Codes around moved words: a pair, a nested pair in a phrase, a standalone, a placeholder."""
    words, target, at = pair.source_words, pair.target_words, pair.alignment
    n = len(words) - 1  # the final mark takes no code
    before = [""] * len(words)
    after = [""] * len(words)
    t_before = [""] * len(target)
    t_after = [""] * len(target)
    moved = [i for i in range(n) if at[i] != i] or list(range(n))
    rng.shuffle(moved)
    xliff = ('<g id="1">', '<g id="2">', '<x id="3"/>')
    b, i_, br = xliff if xml else ("<b>", "<i>", "<br/>")
    close_b, close_i = ("</g>", "</g>") if xml else ("</b>", "</i>")
    used: set[int] = set()
    # A phrase of 2-3 words whose translation is contiguous, with a nested pair on one word.
    spans = [(s, s + w) for w in (3, 2) for s in range(n - w + 1) if _contiguous(at, s, s + w)
             and sorted(at[s:s + w]) != list(at[s:s + w])]
    if spans:
        start, end = rng.choice(spans)
        inner = rng.randrange(start, end)
        before[start] += b
        after[end - 1] = close_b + after[end - 1]
        before[inner] += i_
        after[inner] = close_i + after[inner]
        t_before[min(at[start:end])] += b
        t_after[max(at[start:end])] = close_b + t_after[max(at[start:end])]
        t_before[at[inner]] += i_
        t_after[at[inner]] = close_i + t_after[at[inner]]
        used.update(range(start, end))
    free = [i for i in moved if i not in used]
    if free:  # a pair around one word
        k = free.pop()
        pair_open, pair_close = ("<g id=\"4\">", "</g>") if xml else ("<u>", "</u>")
        before[k] += pair_open
        after[k] = pair_close + after[k]
        t_before[at[k]] += pair_open
        t_after[at[k]] = pair_close + t_after[at[k]]
    if free:  # a standalone code written against the next word
        k = free.pop()
        before[k] = br + before[k]
        t_before[at[k]] = br + t_before[at[k]]
    if free:  # a placeholder written against the previous word
        k = free.pop()
        holder = "{name}" if rng.random() < 0.5 else "%s"
        after[k] += holder
        t_after[at[k]] += holder
    return Case(
        source=_join([before[k] + w + after[k] for k, w in enumerate(words)]),
        reference=_join([t_before[k] + w + t_after[k] for k, w in enumerate(target)]),
        plain=pair.target, markup="xml" if xml else "html",
        placeholders=("curly", "printf"),
    )


def _join(words: list[str]) -> str:
    return " ".join(words[:-1]) + words[-1]


def cases(count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    return [_case(p, rng, xml=k % 2 == 1) for k, p in enumerate(pairs(count, seed))]


def boundaries(text: str) -> dict[str, int]:
    """Each code of ``text`` -> how many words (and marks) come before it; a closing tag is
    named after the tag it closes (``<g id="1">/``), so XLIFF's ``</g>`` are told apart."""
    found: dict[str, int] = {}
    open_tags: list[str] = []
    words = 0
    for token in _TOKEN.findall(text):
        if not _CODE.fullmatch(token):
            words += 1
        elif token.startswith("</"):
            found[(open_tags.pop() if open_tags else token) + "/"] = words
        else:
            if token.startswith("<") and not token.endswith("/>"):
                open_tags.append(token)
            found[token] = words
    return found


def plain(text: str) -> str:
    return " ".join(_CODE.sub(" ", text).split()).replace(" .", ".").replace(" ?", "?")


@dataclass
class Score:
    segments: int = 0
    words_exact: int = 0
    codes: int = 0
    placed: int = 0
    strings_exact: int = 0  # the whole segment equals the reference, spaces included

    def add(self, case: Case, output: str) -> None:
        self.segments += 1
        if plain(output) != case.plain:
            return
        self.words_exact += 1
        self.strings_exact += output == case.reference
        want, got = boundaries(case.reference), boundaries(output)
        self.codes += len(want)
        self.placed += sum(got.get(code) == at for code, at in want.items())

    def share(self) -> float:
        return self.placed / self.codes if self.codes else 0.0


def place(engine: Any, batch: Sequence[Case], beams: int = 4,
          monotone: bool = False) -> list[str]:
    """Translate ``batch`` through ``engine`` and restore each segment's codes, as the worker
    does (``engine``: the HF or CTranslate2 engine of :mod:`worker.engines`)."""
    from mtq.core.contract import DecodeOptions

    masked = [mask(c.source, c.markup, c.placeholders) for c in batch]
    sources = engine.encode([m.text for m in masked])
    outputs = engine.generate(sources, DecodeOptions(beam_size=beams, max_new_tokens=64))
    translations = engine.decode(outputs)
    rows = None if monotone else engine.attention(sources, outputs)
    decode: Callable[[Sequence[Sequence[int]]], list[str]] = engine.decode
    restored = []
    for k, m in enumerate(masked):
        links = None if rows is None else char_alignment(
            decode, sources[k], m.text, outputs[k], translations[k], rows[k])
        restored.append(restore(m, translations[k], links).text)
    return restored


def measure(engine: Any, batch: Sequence[Case], monotone: bool = False) -> Score:
    score = Score()
    for start in range(0, len(batch), 50):
        chunk = batch[start:start + 50]
        for case, output in zip(chunk, place(engine, chunk, monotone=monotone), strict=True):
            score.add(case, output)
    return score
