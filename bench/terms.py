"""``python -m bench terms``: terminology recall, report accuracy, quality and cost.

For each engine (HF; CTranslate2 on the same weights converted by ``mtq convert``, float32)
and method (``mask``, ``inline``, ``replace``), the workload's sentences go through exactly
the worker's steps, without the broker: ``model_inputs`` (the texts the model reads, which
segments want attention), ``encode``, ``generate`` in length-sorted batches of 16,
``attention_for``, ``decode``, ``restore_job`` (codes and terms put back, the repair, the
report). The same sentences as a plain job (no terminology) are timed in the same run.

- recall: entries found in the output / entries matched in the sources, counted here
  independently of the report (a regex per target, whole words, every occurrence), and
  the same for the do-not-translate entries alone;
  ``model`` is the share the model wrote itself (inline, replace: before the repair);
- report accuracy: the report's ``found`` equal to that independent count, item by item;
- exact match (trained model only): the plain output against the known translation, and the
  terminology output against the known translation with the terms' targets put in;
- placement (trained model only): the share of term targets found at the target word the
  known alignment gives their source term;
- others right (trained model only): the share of sentences whose words outside the terms
  the model translated right, before any term was put in (``inline``, ``replace``: every
  word but the terms' as in the reference; ``mask``: the reference without the terms' words), which
  separates the model's misses from the repair's and the placement's;
- cost: seconds for the glossary job over seconds for the plain job.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.terms_workload import Workload, split, tiny, trained
from mtq.core.contract import DecodeOptions, Job
from mtq.core.terms import METHODS, TermMatcher, TermOptions
from worker.engines.alignment import attention_for
from worker.lifecycle.markup_steps import model_inputs, restore_job

BATCH = 16


def _batched(engine: Any, ids: list[list[int]], options: DecodeOptions, align: list[bool]
             ) -> tuple[list[list[int]], dict[int, tuple[Sequence[int], Any]]]:
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    outputs: list[list[int]] = [[] for _ in ids]
    attention: dict[int, tuple[Sequence[int], Any]] = {}
    for start in range(0, len(order), BATCH):
        rows = order[start:start + BATCH]
        generated = engine.generate([ids[i] for i in rows], options)
        found = attention_for(engine, [ids[i] for i in rows], generated,
                              [align[i] for i in rows])
        for i, out, att in zip(rows, generated, found, strict=True):
            outputs[i] = out
            if att is not None:
                attention[i] = (ids[i], att)
    return outputs, attention


def _job(workload: Workload, method: str | None) -> Job:
    terms = TermOptions(tuple(workload.entries), method=method) if method else TermOptions()
    return Job("bench", "en", "xx", tuple(workload.sources), "https://x.example/h",
               DecodeOptions(4, 64), terms=terms)


def run_method(engine: Any, workload: Workload, method: str | None) -> dict[str, Any]:
    job = _job(workload, method)
    started = time.perf_counter()
    texts, align = model_inputs(job)
    ids = engine.encode(texts)
    outputs, attention = _batched(engine, ids, job.options, align)
    translations = engine.decode(outputs)
    restored = restore_job(job, translations, outputs, attention, engine.decode)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "translations": list(restored.translations),
            "reports": restored.terms, "decoded": translations, "method": method}


def _count(target: str, text: str) -> int:
    return len(re.findall(rf"(?<![^\W_]){re.escape(target)}(?![^\W_])", text))


def score(workload: Workload, result: dict[str, Any]) -> dict[str, Any]:
    matcher = TermMatcher(workload.entries)
    matched = found = agree = items = kept = kept_found = 0
    keep = {e.target for e in workload.entries if e.keep}
    for source, output, report in zip(workload.sources, result["translations"],
                                      result["reports"], strict=True):
        wanted: dict[str, int] = {}
        for match in matcher.find(source):
            wanted[match.target] = wanted.get(match.target, 0) + 1
        truth = {target: _count(target, output) >= n for target, n in wanted.items()}
        matched += len(truth)
        found += sum(truth.values())
        kept += sum(t in keep for t in truth)
        kept_found += sum(ok for t, ok in truth.items() if t in keep)
        for item in report.results:
            items += 1
            agree += item.found == truth.get(item.target)
        items += abs(len(truth) - len(report.results))
    return {"matched": matched, "recall": found / matched if matched else 1.0,
            "kept": kept_found / kept if kept else None,
            "model": None if result["method"] == "mask" else _by_the_model(workload, result),
            "report": agree / items if items else 1.0,
            "placed": placed(workload, result["translations"]),
            "others": others_right(workload, result["decoded"], result["method"])}


def others_right(workload: Workload, decoded: Sequence[str], method: str) -> float | None:
    """The share of sentences the model got right outside the terms (trained model only)."""
    if workload.slots is None or workload.references is None:
        return None
    right = 0
    for slots, output, reference in zip(workload.slots, decoded, workload.references,
                                        strict=True):
        words, wanted = split(output), split(reference)
        at = {k for k, _ in slots}
        if method == "mask":  # the model never saw the terms: their words are missing
            right += words == [w for k, w in enumerate(wanted) if k not in at]
        else:
            right += len(words) == len(wanted) and all(
                a == b for k, (a, b) in enumerate(zip(words, wanted, strict=True))
                if k not in at)
    return right / len(decoded)


def placed(workload: Workload, outputs: Sequence[str]) -> float | None:
    """The share of term targets at their aligned target word (trained model only)."""
    if workload.slots is None:
        return None
    total = right = 0
    for slots, output in zip(workload.slots, outputs, strict=True):
        words = split(output)
        total += len(slots)
        right += sum(k < len(words) and words[k] == target for k, target in slots)
    return right / total if total else 1.0


def _by_the_model(workload: Workload, result: dict[str, Any]) -> float:
    """The share of matched entries the model wrote itself (before the repair)."""
    matcher = TermMatcher(workload.entries)
    matched = written = 0
    for source, decoded in zip(workload.sources, result["decoded"], strict=True):
        wanted: dict[str, int] = {}
        for match in matcher.find(source):
            wanted[match.target] = wanted.get(match.target, 0) + 1
        matched += len(wanted)
        written += sum(_count(t, decoded) >= n for t, n in wanted.items())
    return written / matched if matched else 1.0


def exact(outputs: Sequence[str], references: Sequence[str] | None) -> float | None:
    if references is None:
        return None
    return sum(o.strip() == r for o, r in zip(outputs, references, strict=True)) / len(outputs)


def load(engine_name: str, model: Path, scratch: Path) -> Any:
    from mtq.core.settings import Settings

    if engine_name == "hf":
        from worker.engines.hf import HFEngine

        return HFEngine(Settings(model=str(model), device="cpu", torch_threads=1))
    from mtq.tools.convert import convert_model
    from worker.engines.ct2 import CTranslate2Engine

    folder = scratch / f"ct2-{model.name}"
    if not folder.exists():
        convert_model(model, folder)
    return CTranslate2Engine.from_folder(folder, compute_type="float32", inter_threads=1,
                                         intra_threads=1, device="cpu")


def rows_for(engine_name: str, engine: Any, workload: Workload) -> list[dict[str, Any]]:
    plain = run_method(engine, workload, None)
    base = exact(plain["translations"], workload.references)
    rows = []
    for method in METHODS:
        result = run_method(engine, workload, method)
        again = run_method(engine, workload, None)  # the plain job again: the machine's noise
        plain["seconds"] = min(plain["seconds"], again["seconds"])
        rows.append({"engine": engine_name, "method": method, **score(workload, result),
                     "cost": result["seconds"] / plain["seconds"], "plain_em": base,
                     "terms_em": exact(result["translations"], workload.term_references),
                     "plain_s": plain["seconds"], "terms_s": result["seconds"]})
    return rows


def table(model: str, workload: Workload, rows: list[dict[str, Any]]) -> str:
    def pct(value: float | None) -> str:
        return "—" if value is None else f"{100 * value:.1f}%"

    lines = [f"model `{model}`, {len(workload.sources)} sentences, {len(workload.entries)} "
             "entries", "",
             "| engine | method | entries matched | recall | do-not-translate recall "
             "| by the model | report accuracy "
             "| exact match plain → terms | others right | at aligned position | plain s "
             "| terms s | cost |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        em = "—" if r["plain_em"] is None else f"{pct(r['plain_em'])} → {pct(r['terms_em'])}"
        cells = [r["engine"], r["method"], str(r["matched"]), pct(r["recall"]), pct(r["kept"]),
                 pct(r["model"]), pct(r["report"]), em, pct(r["others"]), pct(r["placed"]),
                 f"{r['plain_s']:.1f}", f"{r['terms_s']:.1f}", f"{r['cost']:.2f}×"]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench terms", description=__doc__)
    parser.add_argument("--model", default="tiny", help="tiny, trained, or a model folder "
                        "(translated with the tiny workload)")
    parser.add_argument("--engines", default="hf,ctranslate2")
    parser.add_argument("--sentences", type=int, default=400)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        if args.model == "trained":
            from mtq.tools.trained_model import copy_trained_model

            model = copy_trained_model(scratch / "trained")
            workload = trained(args.sentences)
        else:
            if args.model == "tiny":
                from mtq.tools.tiny_model import build_tiny_model

                model = build_tiny_model(scratch / "tiny")
            else:
                model = Path(args.model)
            workload = tiny(args.sentences)
        rows: list[dict[str, Any]] = []
        for name in args.engines.split(","):
            rows.extend(rows_for(name, load(name, model, scratch), workload))
    print(table(args.model, workload, rows))
    return 0
