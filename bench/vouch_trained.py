"""``python -m bench vouch --model trained``: confidence and the guards on a model that
translates (the trained test model, ``mtq.tools.trained_model``), where right and wrong are
known because every held-out sentence has its correct translation.

- confidence: the held-out sentences of the synthetic pair (seed 3, as ``TRAINING.json``) plus
  sentences damaged on purpose, which have no correct translation in the pair: a noun replaced
  by an invented word (unknown to the model), inputs cut off before their last words, and inputs
  in another language (Tarvo itself). A translation is right when it equals the reference
  exactly; every damaged one counts as wrong. AUROC is the probability that a right
  translation has a higher confidence than a wrong one (ties count half).
- guards on natural output: the share of held-out outputs with any finding (false positives;
  the length guard calibrated first on 300 other sentences' outputs, as a worker calibrates on
  its traffic), and per damaged set what was flagged; for the cap case the held-out sentences
  again with a token cap of two thirds of the reference's tokens (rounded up).
- retry: every suspect segment of those sets decoded again with the settings
  ``on_suspect: "retry"`` picks and reviewed; the share that comes out clean (and, where a
  reference exists, right), and the retries' decode time over the sets' first decode.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mtq.core.contract import DecodeOptions, Job, JobLimits
from mtq.core.vouch import LengthCalibration, SuspectOptions
from mtq.core.vouch.retry import retry_plan
from mtq.tools.synth_pair import Pair, dictionary, pairs
from worker.vouch.review import review

BATCH = 16
HELD_OUT_SEED = 3  # the held-out set of TRAINING.json
OPTIONS = DecodeOptions(beam_size=4, max_new_tokens=256)  # the worker's defaults


@dataclass(frozen=True)
class Case:
    source: str
    reference: str | None  # None: no correct translation exists in the pair


@dataclass(frozen=True)
class Decoded:
    text: str
    confidence: float
    finished: bool


def damaged_sets(count: int) -> dict[str, list[Case]]:
    """The held-out sentences and three damaged sets, ``count`` sentences each."""
    vocabulary = dictionary()
    rng = random.Random(41)
    known = {*vocabulary, *vocabulary.values()}
    sets = {"held-out": [Case(p.source, p.target) for p in pairs(count, HELD_OUT_SEED)]}
    sets["unknown word"] = [Case(_with_unknown_word(p, rng, known), None)
                            for p in pairs(count, 31)]
    sets["cut off"] = [Case(_cut_off(p, rng), None) for p in pairs(count, 32)]
    sets["other language"] = [Case(p.target, None) for p in pairs(count, 33)]
    return sets


def _with_unknown_word(pair: Pair, rng: random.Random, known: set[str]) -> str:
    words = pair.source[:-1].split()
    position = rng.randrange(len(words))
    while True:
        word = "".join(rng.choice("bdgkmptvz") + rng.choice("aeiou") for _ in range(3))
        if word not in known:
            break
    words[position] = word
    return " ".join(words) + pair.source[-1]


def _cut_off(pair: Pair, rng: random.Random) -> str:
    words = pair.source[:-1].split()
    keep = max(2, len(words) - rng.randint(2, 3))
    return " ".join(words[:keep])


def decode(engine: Any, sources: Sequence[str], options: Sequence[DecodeOptions]
           ) -> tuple[list[Decoded], float]:
    """Length-sorted batches of segments with equal options; the decode's seconds."""
    ids = engine.encode(list(sources))
    order = sorted(range(len(ids)), key=lambda i: (options[i].max_new_tokens, len(ids[i])))
    out: list[Decoded | None] = [None] * len(ids)
    seconds = 0.0
    start = 0
    while start < len(order):
        batch = [order[start]]
        while (len(batch) < BATCH and start + len(batch) < len(order)
               and options[order[start + len(batch)]] == options[batch[0]]):
            batch.append(order[start + len(batch)])
        started = time.perf_counter()
        hypotheses = engine.generate_scored([ids[i] for i in batch], options[batch[0]])
        seconds += time.perf_counter() - started
        texts = engine.decode([h.tokens for h in hypotheses])
        for i, text, hypothesis in zip(batch, texts, hypotheses, strict=True):
            out[i] = Decoded(text, hypothesis.confidence, hypothesis.finished)
        start += len(batch)
    return [d for d in out if d is not None], seconds


def auroc(right: Sequence[float], wrong: Sequence[float]) -> float:
    """P(a right translation scores above a wrong one), ties half (Mann-Whitney U)."""
    ranked = sorted([(v, 1) for v in right] + [(v, 0) for v in wrong])
    rank_sum, position = 0.0, 0
    while position < len(ranked):
        end = position
        while end < len(ranked) and ranked[end][0] == ranked[position][0]:
            end += 1
        mean_rank = (position + 1 + end) / 2  # 1-based ranks, ties share their mean
        rank_sum += mean_rank * sum(label for _, label in ranked[position:end])
        position = end
    return (rank_sum - len(right) * (len(right) + 1) / 2) / (len(right) * len(wrong))


def confidence_rows(sets: dict[str, list[Case]], decoded: dict[str, list[Decoded]]
                    ) -> list[str]:
    rows, right, wrong = [], [], []
    for name, cases in sets.items():
        good = [d.confidence for c, d in zip(cases, decoded[name], strict=True)
                if c.reference is not None and d.text == c.reference]
        bad = [d.confidence for c, d in zip(cases, decoded[name], strict=True)
               if c.reference is None or d.text != c.reference]
        right += good
        wrong += bad
        rows.append(f"| {name} | {len(cases)} | {len(good)} | {_mean(good)} | {_mean(bad)} |")
    rows.append(f"| all | {len(right) + len(wrong)} | {len(right)} | {_mean(right)} | "
                f"{_mean(wrong)} |")
    summary = [f"AUROC, right vs wrong over all sets: {auroc(right, wrong):.3f}"]
    held_right = [d.confidence for c, d in zip(sets["held-out"], decoded["held-out"],
                                               strict=True) if d.text == c.reference]
    held_wrong = [d.confidence for c, d in zip(sets["held-out"], decoded["held-out"],
                                               strict=True) if d.text != c.reference]
    if held_wrong:
        summary.append(f"AUROC within the held-out set alone ({len(held_wrong)} wrong): "
                       f"{auroc(held_right, held_wrong):.3f}")
    threshold, caught, lost = _best_threshold(right, wrong)
    summary.append(f"best single threshold {threshold:.3f}: {caught:.1%} of the wrong ones below "
                   f"it, {lost:.1%} of the right ones")
    return [*rows, "", *summary]


def _mean(values: Sequence[float]) -> str:
    return f"{sum(values) / len(values):.3f}" if values else "–"


def _best_threshold(right: Sequence[float], wrong: Sequence[float]) -> tuple[float, float, float]:
    best = (0.0, 0.0, 0.0)
    for threshold in sorted({*right, *wrong}):
        caught = sum(v < threshold for v in wrong) / len(wrong)
        lost = sum(v < threshold for v in right) / len(right)
        if caught - lost > best[1] - best[2]:
            best = (threshold, caught, lost)
    return best


def findings(cases: Sequence[Case], decoded: Sequence[Decoded], options: DecodeOptions,
             bounds: tuple[float, float] | None) -> list[set[str]]:
    job = Job("bench", "en", "tvo", tuple(c.source for c in cases), "http://127.0.0.1/",
              options, vouch=SuspectOptions())
    result = review(job, [d.text for d in decoded], [d.confidence for d in decoded],
                    [d.finished for d in decoded], bounds)
    found: list[set[str]] = [set() for _ in cases]
    for warning in result.warnings:
        found[warning.segment].add(warning.code)
    return found


def calibrated_bounds(engine: Any, count: int) -> tuple[float, float] | None:
    calibration = LengthCalibration()
    cases = [Case(p.source, p.target) for p in pairs(count, 34)]
    decoded, _ = decode(engine, [c.source for c in cases], [OPTIONS] * len(cases))
    for case, found, out in zip(cases, findings(cases, decoded, OPTIONS, None), decoded,
                                strict=True):
        if not found:
            calibration.observe("pair", case.source, out.text)
    return calibration.bounds("pair")


def guard_and_retry_rows(engine: Any, sets: dict[str, list[Case]],
                         decoded: dict[str, list[Decoded]], seconds: dict[str, float],
                         bounds: tuple[float, float] | None) -> list[str]:
    runs: list[tuple[str, list[Case], list[Decoded], list[DecodeOptions], float]] = [
        (name, cases, decoded[name], [OPTIONS] * len(cases), seconds[name])
        for name, cases in sets.items()]
    held = sets["held-out"]
    capped = [DecodeOptions(4, max(2, -(-2 * len(engine.encode([c.reference or ""])[0]) // 3)))
              for c in held]
    first, first_s = decode(engine, [c.source for c in held], capped)
    runs.append(("held-out, token cap ⅔ of the reference", held, first, capped, first_s))
    lines = []
    limits = JobLimits()
    for name, cases, outputs, options, first_seconds in runs:
        found = [findings([c], [d], o, bounds)[0]
                 for c, d, o in zip(cases, outputs, options, strict=True)]
        codes = Counter(code for f in found for code in f)
        by_code = ", ".join(f"`{c}` {n}" for c, n in sorted(codes.items())) or "none"
        suspect = [i for i, f in enumerate(found) if f]
        plans = {i: retry_plan(options[i], found[i], max_beam=limits.max_beam_size,
                               token_limit=limits.max_new_tokens_limit) for i in suspect}
        retried = [i for i in suspect if plans[i] is not None]
        retry_cell = "–"
        if retried:
            again, retry_s = decode(engine, [cases[i].source for i in retried],
                                    [plans[i].options for i in retried])  # type: ignore[union-attr]
            clean = [i for i, d in zip(retried, again, strict=True)
                     if not findings([cases[i]], [d], plans[i].options, bounds)[0]]  # type: ignore[union-attr]
            right = sum(cases[i].reference is not None and d.text == cases[i].reference
                        for i, d in zip(retried, again, strict=True))
            retry_cell = (f"{len(clean)}/{len(retried)} clean"
                          + (f", {right} right" if cases[0].reference is not None else "")
                          + f"; {retry_s / first_seconds:.2f}× the set's first decode")
        lines.append(f"| {name} | {len(cases)} | {len(suspect) / len(cases):.1%} | {by_code} | "
                     f"{retry_cell} |")
    return lines


def agreement_rows(hf: Any, folder: Any, texts: Sequence[str]) -> list[str]:
    """HF float32 against the converted weights in each CPU compute type: how many
    translations are the same, how far their confidences are apart where they are (largest,
    mean), and the largest difference over all rows."""
    from worker.engines.ct2 import CTranslate2Engine

    reference, _ = decode(hf, texts, [OPTIONS] * len(texts))
    rows = []
    for compute_type in ("float32", "int8_float32", "int8"):
        ct2 = CTranslate2Engine.from_folder(folder, compute_type=compute_type, inter_threads=1,
                                            intra_threads=1, device="cpu")
        other, _ = decode(ct2, texts, [OPTIONS] * len(texts))
        same = sum(a.text == b.text for a, b in zip(reference, other, strict=True))
        gaps = [abs(a.confidence - b.confidence) for a, b in zip(reference, other, strict=True)]
        alike = [g for g, a, b in zip(gaps, reference, other, strict=True) if a.text == b.text]
        rows.append(f"| {compute_type} | {same}/{len(texts)} | {max(alike, default=0):.1e} | "
                    f"{sum(alike) / max(1, len(alike)):.1e} | {max(gaps):.1e} |")
    return rows


def run(engine: Any, count: int) -> None:
    sets = damaged_sets(count)
    decoded: dict[str, list[Decoded]] = {}
    seconds: dict[str, float] = {}
    for name, cases in sets.items():
        decoded[name], seconds[name] = decode(engine, [c.source for c in cases],
                                              [OPTIONS] * len(cases))
    print(f"\nconfidence, beam 4, {count} sentences per set\n")
    print("| set | sentences | right | mean confidence, right | mean confidence, wrong |\n"
          "|---|---|---|---|---|")
    print("\n".join(confidence_rows(sets, decoded)))
    bounds = calibrated_bounds(engine, 300)
    shown = f"{bounds[0]:.2f}–{bounds[1]:.2f}" if bounds else "not calibrated"
    print(f"\nguards (length ratio bounds {shown}, calibrated on 300 other sentences)\n")
    print("| input | segments | flagged | findings | with retry |\n|---|---|---|---|---|")
    print("\n".join(guard_and_retry_rows(engine, sets, decoded, seconds, bounds)))
