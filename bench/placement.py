"""``python -m bench placement``: markup placement on the trained model, per engine.

The cases and the scoring are :mod:`mtq.tools.placement` (shared with tests/trained): held-out
sentences of the synthetic pair with HTML and XLIFF pairs, nested pairs, standalone codes and
placeholders around words the reordering moves, against the known word alignment. Each engine
is measured with its attention and, as the baseline, without (codes at the same relative
position as in the source). Results and method: docs/markup.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mtq.tools.placement import Score, cases, measure

SEED = 31  # not a seed the model was trained or selected on (1, 2, 3)


def _engines(names: list[str], model: Path, scratch: Path) -> dict[str, Any]:
    from mtq.core.settings import Settings
    from worker.engines.hf import HFEngine

    engines: dict[str, Any] = {}
    for name in names:
        if name == "hf":
            engines[name] = HFEngine(Settings(model=str(model), device="cpu", torch_threads=1))
            continue
        from mtq.tools.convert import convert_model
        from worker.engines.ct2 import CTranslate2Engine

        quantization = None if name == "ctranslate2" else name.removeprefix("ctranslate2-")
        folder = scratch / name
        convert_model(model, folder, quantization)
        compute = quantization or "float32"
        engines[name] = CTranslate2Engine.from_folder(
            folder, compute_type=compute, inter_threads=1, intra_threads=1, device="cpu")
    return engines


def _row(engine: str, method: str, score: Score, seconds: float) -> str:
    return (f"| {engine} | {method} | {score.words_exact}/{score.segments} | {score.codes} "
            f"| {score.placed} | **{score.share():.1%}** "
            f"| {score.strings_exact / max(score.words_exact, 1):.1%} | {seconds:.1f} |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench placement", description=__doc__)
    parser.add_argument("--sentences", type=int, default=400)
    parser.add_argument("--engines", default="hf,ctranslate2,ctranslate2-int8",
                        help="hf, ctranslate2 (float32), ctranslate2-int8")
    args = parser.parse_args(argv)
    from mtq.tools.trained_model import copy_trained_model

    batch = cases(args.sentences, SEED)
    lines = [
        "| engine | placement | words exact | codes | placed exactly | share "
        "| segment string exact | s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        model = copy_trained_model(scratch / "trained")
        for name, engine in _engines(args.engines.split(","), model, scratch).items():
            for method, monotone in (("attention", False), ("monotone baseline", True)):
                started = time.perf_counter()
                score = measure(engine, batch, monotone=monotone)
                lines.append(_row(name, method, score, time.perf_counter() - started))
                print(lines[-1], flush=True)
    print("\n".join(lines))
    return 0
