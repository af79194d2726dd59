"""``python -m bench vouch``: what confidence and the output guards cost, and how well the
guards catch constructed failures.

- cost: the same length-sorted batches of 16 decoded as the worker did before confidence
  (``generate`` without scores) and as it does now (``generate_scored``: the scores kept from
  the search, the transition scores gathered), best of ``--repeat`` runs; the guards' time per
  segment (:func:`worker.vouch.review.review`, as completion runs it); with ``--ct2`` the same
  for CTranslate2 (``return_scores`` off and on) on the weights converted by ``mtq convert``.
- guards: each constructed failure decoded by the HF engine with a test logits processor
  (``tests/vouch/scripted.py``) and reviewed: a token cap too small for the sentence (3 tokens;
  sources of at least 8 tokens), a forced loop, copy-through (the source's own tokens);
  recall is the share flagged with the expected code. False positives: the share of
  constructed clean outputs (another sentence's tokens, then end of sentence) with any
  finding, and the share of the model's own outputs flagged (with a random-weight model every
  output loops to the cap; only a model that translates makes that figure meaningful).
- retry: the constructed failures decoded again with the settings ``on_suspect: "retry"``
  uses; the share that comes out clean and the decode time over the first decode's.

``--model`` takes any HF model folder (default: the tiny model), so the same rows run on a
trained model.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import vouch_trained
from bench.vouch_trained import HELD_OUT_SEED
from mtq.core.contract import DecodeOptions, Job, JobLimits
from mtq.core.settings import Settings
from mtq.core.vouch import SuspectOptions
from mtq.core.vouch.retry import retry_plan
from mtq.tools.synth_pair import pairs
from mtq.tools.tiny_corpus import generated_sentences
from tests.vouch.scripted import Force, Loop, Script, scripted
from worker.engines.hf import HFEngine
from worker.vouch.review import review

BATCH = 16


def _batches(ids: list[list[int]]) -> list[list[int]]:
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    return [order[start:start + BATCH] for start in range(0, len(order), BATCH)]


def _best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def _paired(repeat: int, before: Callable[[], object], after: Callable[[], object]
            ) -> tuple[float, float]:
    """Best times of ``before`` and ``after`` run in turn (one warm-up each first), so a
    machine that gets busier or quieter during the run weighs on both alike."""
    before(), after()
    pairs = [(_best(1, before), _best(1, after)) for _ in range(repeat)]
    return min(b for b, _ in pairs), min(a for _, a in pairs)


def _hf_unscored(engine: HFEngine, sources: Sequence[Sequence[int]], options: DecodeOptions
                 ) -> Any:
    """The decode as it ran before confidence: no scores kept."""
    torch = engine._torch
    longest = max(len(s) for s in sources)
    ids = torch.full((len(sources), longest), engine.pad_id, dtype=torch.long)
    mask = torch.zeros((len(sources), longest), dtype=torch.long)
    for row, tokens in enumerate(sources):
        ids[row, :len(tokens)] = torch.tensor(tokens)
        mask[row, :len(tokens)] = 1
    with torch.inference_mode():
        return engine.model.generate(input_ids=ids, attention_mask=mask,
                                     num_beams=options.beam_size,
                                     max_new_tokens=options.max_new_tokens, do_sample=False)


def cost_rows(engine: HFEngine, texts: list[str], options: DecodeOptions, repeat: int,
              ct2: Any | None) -> list[str]:
    ids = engine.encode(texts)
    batches = _batches(ids)

    def plain() -> None:
        for rows in batches:
            _hf_unscored(engine, [ids[i] for i in rows], options)

    def scored() -> None:
        for rows in batches:
            engine.generate_scored([ids[i] for i in rows], options)

    before, after = _paired(repeat, plain, scored)
    lines = [_cost("HF decode", before, after, len(texts))]
    hypotheses = engine.generate_scored(ids, options)
    outputs = engine.decode([h.tokens for h in hypotheses])
    job = Job("bench", "en", "de", tuple(texts), "http://127.0.0.1/", options)
    guards = _best(repeat, lambda: review(job, outputs, [h.confidence for h in hypotheses],
                                          [h.finished for h in hypotheses], (0.5, 2.0)))
    lines.append(f"| guards (review) | – | {1000 * guards / len(texts):.3f} ms per segment | – |")
    if ct2 is not None:
        tokens = [ct2.tokenizer.convert_ids_to_tokens(i) for i in ids]

        def translate(scores: bool) -> None:
            for rows in batches:
                ct2.translator.translate_batch(
                    [tokens[i] for i in rows], beam_size=options.beam_size,
                    max_decoding_length=options.max_new_tokens, return_scores=scores)

        lines.append(_cost("CTranslate2 decode", *_paired(
            repeat, lambda: translate(False), lambda: translate(True)), len(texts)))
    return lines


def _cost(name: str, before: float, after: float, segments: int) -> str:
    return (f"| {name} | {1000 * before / segments:.2f} ms per segment | "
            f"{1000 * after / segments:.2f} ms per segment | {100 * (after / before - 1):+.1f}% |")


def guard_rows(engine: HFEngine, texts: list[str]) -> list[str]:
    ids = [i for i in engine.encode(texts) if len(i) >= 9]  # 8 tokens and the end
    words = [tuple(i[:-1]) for i in ids]
    wide = DecodeOptions(beam_size=2, max_new_tokens=64)
    cases: list[tuple[str, str, DecodeOptions, dict[tuple[int, ...], Script] | None]] = [
        ("token cap of 3", "truncated", DecodeOptions(2, 3), None),
        ("forced loop", "repetition", wide,
         {tuple(i): Loop(w[:2]) for i, w in zip(ids, words, strict=True)}),
        ("copy-through", "untranslated", wide,
         {tuple(i): Force(w) for i, w in zip(ids, words, strict=True)}),
    ]
    lines = []
    for name, code, options, plan in cases:
        found, retried, first_s, retry_s = _run_case(engine, ids, options, plan or {})
        recall = sum(code in f for f in found) / len(found)
        clean = sum(not f for f in retried) / len(retried)
        lines.append(f"| {name} | `{code}` | {recall:.0%} of {len(found)} | {clean:.0%} clean, "
                     f"{retry_s / first_s:.1f}× the first decode's time |")
    shifted = {tuple(i): Force(words[(n + 1) % len(words)]) for n, i in enumerate(ids)}
    found, _, _, _ = _run_case(engine, ids, wide, shifted, retry=False)
    flagged = sum(bool(f) for f in found) / len(found)
    lines.append(f"| constructed clean output | any | {flagged:.0%} flagged of {len(found)} "
                 "(false positives) | – |")
    found, _, _, _ = _run_case(engine, ids, DecodeOptions(4, 256), {}, retry=False)
    lines.append(f"| the model's own output | any | {sum(bool(f) for f in found) / len(found):.0%}"
                 f" flagged of {len(found)} | – |")
    return lines


def _run_case(engine: HFEngine, ids: list[list[int]], options: DecodeOptions,
              plan: dict[tuple[int, ...], Script], retry: bool = True
              ) -> tuple[list[set[str]], list[set[str]], float, float]:
    limits = JobLimits()
    with scripted(engine, plan):
        found, first_s = _decode_review(engine, ids, options)
        if not retry:
            return found, [], first_s, 0.0
        retried: list[set[str]] = []
        retry_s = 0.0
        for source, codes in zip(ids, found, strict=True):
            chosen = retry_plan(options, codes, max_beam=limits.max_beam_size,
                                token_limit=limits.max_new_tokens_limit)
            if chosen is None:
                retried.append(codes)
                continue
            (codes_after,), seconds = _decode_review(engine, [source], chosen.options)
            retried.append(codes_after)
            retry_s += seconds
    return found, retried, first_s, retry_s


def _decode_review(engine: HFEngine, ids: list[list[int]], options: DecodeOptions
                   ) -> tuple[list[set[str]], float]:
    started = time.perf_counter()
    rows = [h for batch in _batches(ids)
            for h in zip(batch, engine.generate_scored([ids[i] for i in batch], options),
                          strict=True)]
    seconds = time.perf_counter() - started
    rows.sort(key=lambda pair: pair[0])
    hypotheses = [h for _, h in rows]
    texts = engine.decode([h.tokens for h in hypotheses])
    sources = engine.decode([[0, *i] for i in ids])  # the source text as the model reads it
    job = Job("bench", "en", "de", tuple(sources), "http://127.0.0.1/", options,
              vouch=SuspectOptions())
    result = review(job, texts, [h.confidence for h in hypotheses],
                    [h.finished for h in hypotheses], None)
    found: list[set[str]] = [set() for _ in ids]
    for warning in result.warnings:
        found[warning.segment].add(warning.code)
    return found, seconds


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench vouch", description=__doc__)
    parser.add_argument("--model", help="HF model folder, or `trained` for the trained test "
                        "model and its confidence and natural-output rows (default: the tiny "
                        "model)")
    parser.add_argument("--sentences", type=int, default=96)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ct2", action="store_true", help="also CTranslate2 (float32)")
    args = parser.parse_args(list(argv))
    trained = args.model == "trained"
    model = _trained_model() if trained else args.model or _tiny_model()
    engine = HFEngine(Settings(model=model, torch_threads=int(os.environ.get("MTQ_TORCH_THREADS",
                                                                              "1"))))
    texts = ([p.source for p in pairs(args.sentences, HELD_OUT_SEED)] if trained
             else list(generated_sentences(args.sentences, seed=11)))
    ct2 = _converted(model) if args.ct2 else None
    print(f"model {engine.info.name} ({engine.info.compute_type}), {len(texts)} sentences, "
          f"batches of {BATCH}, beam 4, max_new_tokens 64\n")
    print("| decode | before (no scores) | with confidence | cost |\n|---|---|---|---|")
    print("\n".join(cost_rows(engine, texts, DecodeOptions(4, 64), args.repeat, ct2)))
    print("\n| constructed failure | expected | recall | with retry |\n|---|---|---|---|")
    print("\n".join(guard_rows(engine, texts)))
    if trained:
        if ct2 is not None:
            print("\n| CTranslate2 compute type | same translation as HF float32 | largest "
                  "difference, same translation | mean | largest, all |\n|---|---|---|---|---|")
            print("\n".join(vouch_trained.agreement_rows(engine, converted_folder(ct2), texts)))
        for name, chosen in (("HF", engine), ("CTranslate2 (float32)", ct2)):
            if chosen is not None:
                print(f"\n## {name}")
                vouch_trained.run(chosen, args.sentences)
    return 0


def _trained_model() -> str:
    import tempfile

    from mtq.tools.trained_model import copy_trained_model

    return str(copy_trained_model(Path(tempfile.mkdtemp(prefix="mtq-bench-trained-"))))


def _tiny_model() -> str:
    preset = os.environ.get("MTQ_TEST_TINY_MODEL")
    if preset and (Path(preset) / "config.json").exists():
        return preset
    from mtq.tools.tiny_model import build_tiny_model

    return str(build_tiny_model(Path(os.environ.get("TMPDIR", "/tmp")) / "mtq-bench-tiny"))


def _converted(model: str) -> Any:
    import tempfile

    from mtq.tools.convert import convert_model
    from worker.engines.ct2 import CTranslate2Engine

    folder = Path(tempfile.mkdtemp(prefix="mtq-bench-vouch-")) / "ct2"
    convert_model(Path(model), folder)
    return CTranslate2Engine.from_folder(folder, compute_type="float32", inter_threads=1,
                                         intra_threads=1, device="cpu")


def converted_folder(ct2: Any) -> Path:
    """Where :func:`_converted` put the weights (to load them again in another type)."""
    return Path(ct2._settings.model)
