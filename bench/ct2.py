"""CTranslate2 vs HF, side by side in one run: ``python -m bench.ct2 [--quick] [--gpu]``.

Every row translates the same generated segments (:mod:`bench.workload`) with the same decode
options (beam 4, one bounded ``max_new_tokens``) on the opus-mt-en-de-shaped random-weight
model (:mod:`bench.models`), converted once with :func:`mtq.convert.convert_model`:

- ``limit`` (engine level, no scheduler or broker): every segment sorted by length and cut by
  the worker's token budget (:func:`bench.strategies.run_limit`), for HF fp32 ``generate``
  (at the worker's default torch threads, cores - 1, and at one thread per core),
  CTranslate2 float32, CTranslate2 int8 and CTranslate2 int8 with two replicas (inter 2 x
  intra 1; the engine splits each batch between them);
- ``e2e`` (mtq end to end): jobs published to the local RabbitMQ in a private vhost, the real
  :class:`worker.app.Worker` in this process on that engine, timed to the last job's event on
  ``mtq.results`` (:func:`bench.e2e.run_end_to_end` with ``webhooks="off"``), for both HF
  set-ups and for CTranslate2 int8 (one replica, and two replicas). The 2x target is judged
  against the fastest HF row.

Fair lengths: HF generates exactly ``max_new_tokens`` per segment
(:func:`bench.models.fix_output_length`). CTranslate2 stops at end-of-sentence (random weights
rarely emit it) and at its per-batch cap ``min(max_new_tokens, 3 x longest + 16)``
(:func:`worker.engines.ct2.decoding_cap`), so ``max_new_tokens`` is chosen at or below that cap
for the shortest segment of the workload and every row decodes the same length. The table
shows generated tokens per segment for each row; generated tokens/s is the fair rate.

``--gpu`` runs the GPU rows instead (CTranslate2 float16 and int8_float16 beside HF bf16, at
the engine level and through the in-process scheduler) when CUDA is visible, and prints
``skipped: no CUDA`` otherwise. ``--gpu --tiny`` checks that script on any machine.

The opus-shaped model gets a tokenizer in Marian's layout (``</s>`` 0, ``<unk>`` 1, the
pieces, unused filler entries, ``<pad>`` last at 58,100, as in Helsinki-NLP/opus-mt-en-de):
CTranslate2's Marian converter drops the *last* vocabulary entry as the padding token, so the
tiny tokenizer alone (512 entries, ``<pad>`` at 511) cannot front a 58,101-row model.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/ct2.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.compat import install_fallbacks

log = logging.getLogger("bench.ct2")

FILLER = "<mtq-unused-{}>"


# -- the rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineConfig:
    """One engine set-up: which engine, which compute type, replicas x threads per replica."""

    engine: str  # "hf" | "ctranslate2"
    compute_type: str  # HF: the torch dtype; CTranslate2: the requested compute type
    replicas: int = 1
    threads: int = 1  # HF: torch intra-op threads (MTQ_TORCH_THREADS); CT2: intra_threads

    @property
    def label(self) -> str:
        name = "HF" if self.engine == "hf" else "CT2"
        shape = f"{self.replicas}x{self.threads}" if self.engine != "hf" else f"{self.threads}t"
        return f"{name} {self.compute_type} {shape}"


@dataclass(frozen=True)
class Ct2Config:
    model: str  # "opus" | "tiny"
    segments: int
    max_new_tokens: int
    mix: str = "large"
    large_job_size: int = 40
    threads: int = 0  # CT2 intra threads of the one-replica rows; 0: all cores (its default)
    hf_threads: int = 0  # HF torch threads; 0: the worker's default (cores - 1, at least 1)
    hf_all_cores_row: bool = True  # also HF at one thread per core (when that differs)
    beam_size: int = 4
    e2e: bool = True
    webhooks: str = "off"  # "off": timed to mtq.results; "auto": through the dispatcher too
    token_budget: int = 8192
    max_batch_segments: int = 64
    max_wait_s: float = 0.02
    seed: int = 2024

    def engines(self) -> list[tuple[EngineConfig, tuple[str, ...]]]:
        """The engine set-ups in run order, each with the strategies it runs."""
        from mtq.cpus import usable_cpus as _cores  # CT2's own default intra threads
        from worker.engines.hf import cpu_threads

        t = self.threads or _cores()
        hf = cpu_threads(self.hf_threads)
        e2e = ("limit", "e2e") if self.e2e else ("limit",)
        rows: list[tuple[EngineConfig, tuple[str, ...]]] = [
            (EngineConfig("hf", "float32", 1, hf), e2e)
        ]
        if self.hf_all_cores_row and _cores() != hf:
            rows.append((EngineConfig("hf", "float32", 1, _cores()), e2e))
        rows += [
            (EngineConfig("ctranslate2", "float32", 1, t), ("limit",)),
            (EngineConfig("ctranslate2", "int8", 1, t), e2e),
            (EngineConfig("ctranslate2", "int8", 2, 1), e2e),
        ]
        return rows


FULL = Ct2Config(model="opus", segments=192, max_new_tokens=30, large_job_size=48)
QUICK = Ct2Config(model="tiny", segments=12, max_new_tokens=6, large_job_size=6,
                  token_budget=512, max_batch_segments=8)


# -- models ------------------------------------------------------------------------------------


def marian_tokenizer_padded(tiny: Path, destination: Path, vocab_size: int) -> Path:
    """The tiny model's SentencePiece tokenizer with its vocabulary padded to ``vocab_size``.

    Same pieces at the same ids (so the same token ids for every sentence), then unused filler
    entries, then ``<pad>`` last: Marian's layout, which CTranslate2's converter expects.
    """
    from transformers import MarianTokenizer

    vocab = json.loads((tiny / "vocab.json").read_text(encoding="utf-8"))
    ordered = [p for p, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if p != "<pad>"]
    padded = {piece: index for index, piece in enumerate(ordered)}
    for index in range(len(padded), vocab_size - 1):
        padded[FILLER.format(index)] = index
    padded["<pad>"] = vocab_size - 1
    with tempfile.TemporaryDirectory() as scratch:
        file = Path(scratch) / "vocab.json"
        file.write_text(json.dumps(padded), encoding="utf-8")
        tokenizer = MarianTokenizer(
            source_spm=str(tiny / "source.spm"), target_spm=str(tiny / "target.spm"),
            vocab=str(file), source_lang="en", target_lang="de",
            model_max_length=json.loads(
                (tiny / "tokenizer_config.json").read_text(encoding="utf-8")
            ).get("model_max_length", 512),
        )
        tokenizer.save_pretrained(destination)
    return destination


def fast_tokenizer_padded(destination: Path, vocab_size: int) -> Path:
    """Without sentencepiece (bare GPU machines): a trained Unigram tokenizer, same layout."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from bench.models import _fast_tokenizer

    trained = _fast_tokenizer()
    state = json.loads(trained.backend_tokenizer.to_str())
    pieces = [entry for entry in state["model"]["vocab"] if entry[0] != "<pad>"]
    pieces += [[FILLER.format(i), -1e4] for i in range(len(pieces), vocab_size - 1)]
    pieces.append(["<pad>", 0.0])
    ids = {entry[0]: index for index, entry in enumerate(pieces)}
    state["model"]["vocab"] = pieces
    state["model"]["unk_id"] = ids["<unk>"]
    for token in state.get("added_tokens", []):
        token["id"] = ids[token["content"]]
    processor = state.get("post_processor") or {}
    for name, special in (processor.get("special_tokens") or {}).items():
        special["ids"] = [ids[name]]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(state)), eos_token="</s>",
        unk_token="<unk>", pad_token="<pad>", model_max_length=trained.model_max_length,
    )
    tokenizer.save_pretrained(destination)
    return destination


def build_models(
    root: Path, model: str, max_new_tokens: int, tiny_model: Path | None = None,
    shape: Any = None,
) -> tuple[Path, Path]:
    """The HF model folder (output length fixed) and its CTranslate2 conversion (float32).

    One float32 conversion serves every CPU compute type: CTranslate2 quantizes at load time
    (docs/engines.md), so the int8 rows load the same folder with ``compute_type="int8"``.
    """
    import shutil

    from bench.models import OPUS_MT_EN_DE, build_opus_shaped, build_tiny
    from mtq.convert import convert_model

    root.mkdir(parents=True, exist_ok=True)
    if tiny_model is not None:
        tiny = Path(shutil.copytree(tiny_model, root / "tiny"))
    elif model == "tiny" or _have_sentencepiece():
        tiny = build_tiny(root)
    else:
        tiny = None
    if model == "tiny":
        assert tiny is not None
        path = tiny
    else:
        shape = shape or OPUS_MT_EN_DE
        tokenizer_dir = root / "opus-tokenizer"
        if tiny is not None:
            marian_tokenizer_padded(tiny, tokenizer_dir, shape.vocab_size)
        else:
            fast_tokenizer_padded(tokenizer_dir, shape.vocab_size)
        path = build_opus_shaped(root, tokenizer_from=tokenizer_dir, shape=shape)
    from bench.models import fix_output_length

    fix_output_length(path, max_new_tokens)
    converted = root / f"{path.name}-ct2"
    convert_model(path, converted, None, force=True)
    return path, converted


def _have_sentencepiece() -> bool:
    import importlib.util

    return importlib.util.find_spec("sentencepiece") is not None


def cap_floor(tokens: Sequence[Sequence[Sequence[int]]]) -> int:
    """The smallest per-batch CTranslate2 cap any batch of this workload can get."""
    from worker.engines.ct2 import decoding_cap

    return decoding_cap(shortest_source(tokens), 1 << 30)


def shortest_source(tokens: Sequence[Sequence[Sequence[int]]]) -> int:
    return min(len(ids) for job in tokens for ids in job)


# -- loading and measuring ---------------------------------------------------------------------


def _recording(engine: Any, vocab: int | None) -> Any:
    from bench.measure import RecordingEngine

    class Ct2Recording(RecordingEngine):
        """CTranslate2 hypotheses hold neither the decoder start token nor ``</s>``: count each
        token plus the end-of-sentence step, as :class:`RecordingEngine` counts HF rows (whose
        forced ``</s>`` takes the last slot of ``max_new_tokens``)."""

        def _generated(self, row: Sequence[int]) -> int:
            return len(row) + 1

    if getattr(engine.info, "engine", "hf") == "ctranslate2":
        return Ct2Recording(engine, decode_vocab=vocab)
    return RecordingEngine(engine, decode_vocab=vocab)


@contextlib.contextmanager
def loaded(
    config: EngineConfig, hf_path: Path, ct2_path: Path, device: str = "cpu"
) -> Iterator[tuple[Any, Any]]:
    """The engine of ``config`` (wrapped to record batches) and the Settings it runs with."""
    import torch

    from mtq.settings import Settings

    before = torch.get_num_threads()
    engine: Any
    if config.engine == "hf":
        from worker.engines.hf import HFEngine

        settings = Settings(
            model=str(hf_path), device=device, dtype=config.compute_type,
            torch_threads=config.threads,
        )
        engine = HFEngine(settings)  # sets torch's intra-op threads on the CPU
    else:
        from worker.engines.ct2 import CTranslate2Engine

        settings = Settings(
            model=str(ct2_path), engine="ctranslate2", device=device,
            compute_type=config.compute_type, inter_threads=config.replicas,
            intra_threads=config.threads,
        )
        engine = CTranslate2Engine(settings)
    # Filler ids of the padded vocabulary detokenize as <unk>: the same cost for both engines.
    recording = _recording(engine, _first_filler(engine.tokenizer))
    try:
        yield recording, settings
    finally:
        del recording, engine
        gc.collect()
        torch.set_num_threads(before)
        if device == "cuda" and torch.cuda.is_available():
            torch.cuda.empty_cache()


def _first_filler(tokenizer: Any) -> int | None:
    """The id of the first filler entry of a padded vocabulary (None: not padded)."""
    prefix = FILLER.split("{")[0]
    fillers = [i for token, i in tokenizer.get_vocab().items() if token.startswith(prefix)]
    return min(fillers) if fillers else None


def _result(
    label: str, mix: str, strategy: str, jobs: int, segments: int, timing: Any, engine: Any,
    cpu: dict[str, float], config: EngineConfig, notes: list[str] | None = None,
) -> Any:
    from bench.measure import RunResult

    return RunResult(
        model=label, mix=mix, strategy=strategy, jobs=jobs, segments=segments,
        wall_s=timing.wall_s, job_latencies_s=timing.job_latencies_s, batches=engine.snapshot(),
        peak_rss_bytes=0, notes=list(notes or []),
        extra={
            "cpu_s": cpu, "engine": config.engine, "compute_type": config.compute_type,
            "runs_as": str(engine.info.compute_type), "replicas": config.replicas,
            "threads": config.threads,
        },
    )


def run_cpu(
    config: Ct2Config, work_dir: Path, progress: Callable[[str], None] = print,
    tiny_model: Path | None = None,
) -> tuple[list[Any], list[str]]:
    """Every row of ``config`` on this machine's CPU; returns (results, notes)."""
    from bench.cpu import CpuAccount
    from bench.strategies import Packing, run_limit, warm_engine
    from bench.workload import make_workload
    from mtq.contract import DecodeOptions

    started = time.monotonic()
    hf_path, ct2_path = build_models(
        work_dir / "models", config.model, config.max_new_tokens, tiny_model
    )
    progress(f"models built and converted in {time.monotonic() - started:.1f} s")
    packing = Packing(config.token_budget, config.max_batch_segments, config.max_wait_s)
    options = DecodeOptions(config.beam_size, config.max_new_tokens)
    workload = make_workload(
        config.mix, config.segments, large_job_size=min(config.large_job_size, config.segments),
        seed=config.seed,
    )
    label_model = "opus-shaped" if config.model == "opus" else config.model
    notes: list[str] = []
    results: list[Any] = []
    tokens: list[list[list[int]]] | None = None
    for engine_config, strategies in config.engines():
        with loaded(engine_config, hf_path, ct2_path) as (engine, settings):
            if tokens is None:
                tokens = [engine.encode(list(job)) for job in workload.jobs]
                floor = cap_floor(tokens)
                if config.max_new_tokens > floor:
                    notes.append(
                        f"max_new_tokens {config.max_new_tokens} is above CTranslate2's cap "
                        f"for the shortest batch ({floor}): CT2 decodes fewer tokens there; "
                        "compare generated tok/s"
                    )
                progress(f"[{label_model}/{config.mix}] {workload.describe()}; shortest source "
                         f"{shortest_source(tokens)} tokens (CT2 cap >= {floor})")
            warm_engine(engine, options, packing, config.seed)
            for strategy in strategies:
                engine.reset()
                account = CpuAccount({})
                account.start()
                if strategy == "limit":
                    timing = run_limit(engine.generate, tokens, options, packing)
                    result = _result(
                        engine_config.label, config.mix, "limit", len(workload.jobs),
                        workload.segments, timing, engine, account.stop(), engine_config,
                    )
                else:
                    result = _run_e2e(
                        engine, engine_config, settings, workload, options, packing, config,
                        work_dir,
                    )
                    if result is None:
                        notes.append("no local RabbitMQ: the end-to-end rows were skipped")
                        continue
                results.append(result)
                progress(
                    f"[{engine_config.label}] {strategy:5s} {result.segments_per_s:8.2f} seg/s "
                    f"{result.generated_tokens_per_s:9.1f} gen tok/s  {result.wall_s:6.2f} s"
                )
    return results, notes


def _run_e2e(
    engine: Any, engine_config: EngineConfig, settings: Any, workload: Any, options: Any,
    packing: Any, config: Ct2Config, work_dir: Path,
) -> Any | None:
    from bench.e2e import BrokerUnavailable, run_end_to_end
    from bench.strategies import Timing

    settings = settings.replace(
        batch_tokens=packing.token_budget, max_batch_segments=packing.max_batch_segments,
        batch_max_wait_ms=round(packing.max_wait_s * 1000),
    )
    try:
        e2e = run_end_to_end(
            engine, [list(job) for job in workload.jobs],
            {"beam_size": options.beam_size, "max_new_tokens": options.max_new_tokens},
            settings, webhooks=config.webhooks, on_start=engine.reset, work_dir=work_dir,
        )
    except BrokerUnavailable as exc:
        log.warning("skipping the end-to-end rows: %s", exc)
        return None
    result = _result(
        engine_config.label, config.mix, "e2e", len(workload.jobs), workload.segments,
        Timing(e2e.wall_s, e2e.job_latencies_s), engine, e2e.cpu_s, engine_config,
        [f"e2e: timed to the {e2e.sink}", *e2e.notes],
    )
    finished = [b.finished_at for b in engine.snapshot()]
    if finished:
        result.extra["compute_done_s"] = round(max(finished) - e2e.first_publish, 3)
    return result


# -- the report --------------------------------------------------------------------------------

COLUMNS = ("rows", "engine", "runs as", "segs", "wall s", "seg/s", "gen tok/s", "tok/seg",
           "vs best HF (seg/s)", "vs best HF (tok/s)", "batches", "engine busy", "others")
STRATEGY_LABELS = {"limit": "engine limit (packed)", "e2e": "mtq end to end",
                   "scheduler": "in-process scheduler"}


def _hf_baseline(results: Sequence[Any], result: Any) -> Any | None:
    """The fastest HF row of the same strategy (same packing), else of the same kind."""
    hf = [r for r in results if r.extra.get("engine") == "hf" and r.mix == result.mix]
    kind = result.strategy.split(" ")[0]
    same = [r for r in hf if r.strategy == result.strategy] or [
        r for r in hf if r.strategy.split(" ")[0] == kind
    ]
    return max(same, key=lambda r: r.segments_per_s, default=None)


def table_rows(results: Sequence[Any]) -> list[list[str]]:
    rows = []
    for result in results:
        base = _hf_baseline(results, result)
        segs = f"{result.segments_per_s / base.segments_per_s:.2f}x" if base else "-"
        toks = (f"{result.generated_tokens_per_s / base.generated_tokens_per_s:.2f}x"
                if base and base.generated_tokens_per_s else "-")
        others = result.others_cores
        strategy = result.strategy.split(" ", 1)
        name = STRATEGY_LABELS.get(strategy[0], strategy[0]) + (
            f" {strategy[1]}" if len(strategy) > 1 else "")
        rows.append([
            name, result.model, result.extra.get("runs_as", "?"), str(result.segments),
            f"{result.wall_s:.2f}", f"{result.segments_per_s:,.2f}",
            f"{result.generated_tokens_per_s:,.0f}",
            f"{result.generated_tokens / max(1, result.segments):.1f}", segs, toks,
            f"{len(result.batches)} ({result.mean_batch:.1f})",
            f"{100 * result.engine_busy:.0f}%", "?" if others is None else f"{others:.2f}",
        ])
    return rows


def text_table(results: Sequence[Any]) -> str:
    from bench.report import aligned

    return aligned(COLUMNS, table_rows(results))


def markdown_table(results: Sequence[Any]) -> str:
    from bench.report import markdown

    return markdown(COLUMNS, table_rows(results))


def verdicts(results: Sequence[Any]) -> list[str]:
    """The issue's target (e2e CT2 >= 2x e2e HF, against the fastest HF e2e row of the run),
    and what e2e keeps of each engine set-up's limit."""
    lines = []
    e2e = [r for r in results if r.strategy == "e2e"]
    hf_rows = [r for r in e2e if r.extra["engine"] == "hf"]
    best = max(hf_rows, key=lambda r: r.segments_per_s, default=None)
    for result in e2e:
        if best is None or result.extra["engine"] == "hf":
            continue
        ratio = result.segments_per_s / best.segments_per_s
        tok = result.generated_tokens_per_s / max(1e-9, best.generated_tokens_per_s)
        others = "".join(
            f"; {result.segments_per_s / r.segments_per_s:.2f}x vs {r.model}"
            for r in hf_rows if r is not best
        )
        lines.append(
            f"e2e {result.model} / e2e {best.model} (fastest HF): {ratio:.2f}x seg/s, "
            f"{tok:.2f}x gen tok/s (target >= 2x): {'met' if ratio >= 2 else 'NOT met'}{others}"
        )
    for result in e2e:
        limit = next((r for r in results if r.strategy == "limit" and r.model == result.model),
                     None)
        if limit is not None:
            kept = result.segments_per_s / limit.segments_per_s
            lines.append(
                f"{result.model}: e2e / engine limit {kept:.2f}x"
                + (f"; last batch done at {result.extra['compute_done_s']:.2f} s of "
                   f"{result.wall_s:.2f} s" if "compute_done_s" in result.extra else "")
            )
    return lines


# -- command line ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ct2", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true",
                        help="the tiny model on a handful of segments (seconds)")
    parser.add_argument("--gpu", action="store_true",
                        help="the GPU rows (float16, int8_float16); 'skipped: no CUDA' without")
    parser.add_argument("--tiny", action="store_true",
                        help="with --gpu: a seconds-long check of the GPU script, also on CPU")
    parser.add_argument("--model", choices=("opus", "tiny"))
    parser.add_argument("--segments", type=int)
    parser.add_argument("--max-new-tokens", type=int)
    parser.add_argument("--mix", choices=("small", "large"), help="job mix (default large)")
    parser.add_argument("--large-job-size", type=int)
    parser.add_argument("--threads", type=int, default=0,
                        help="CT2 intra threads of the one-replica rows (default: all cores, "
                        "the engine's own default)")
    parser.add_argument("--hf-threads", type=int, default=0,
                        help="HF torch threads (default: the worker's, cores - 1)")
    parser.add_argument("--no-hf-all-cores", action="store_true",
                        help="skip the extra HF engine-level row at one thread per core")
    parser.add_argument("--no-e2e", action="store_true", help="engine-level rows only")
    parser.add_argument("--webhooks", choices=("off", "auto"), default="off",
                        help="off: time e2e to mtq.results; auto: through the dispatcher")
    parser.add_argument("--budget-s", type=float, help="--gpu: stop starting rows after this")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown")
    parser.add_argument("--work-dir", type=Path, help="where models are built (default: temp)")
    return parser


def config_from_args(args: argparse.Namespace) -> Ct2Config:
    base = QUICK if args.quick else FULL
    config = replace(
        base, threads=args.threads, hf_threads=args.hf_threads, e2e=not args.no_e2e,
        webhooks=args.webhooks, hf_all_cores_row=not args.no_hf_all_cores,
    )
    for name in ("model", "segments", "max_new_tokens", "mix", "large_job_size"):
        value = getattr(args, name)
        if value is not None:
            config = replace(config, **{name: value})
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", message="Unfeasible length constraints")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.gpu:
        return gpu_main(args)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    config = config_from_args(args)
    started = time.monotonic()
    from bench.machine import describe, load_average, rabbitmq_version

    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="mtq-bench-ct2-") as scratch:
        results, notes = run_cpu(config, args.work_dir or Path(scratch), progress)
    elapsed = time.monotonic() - started
    machine = describe("cpu")
    machine.pop("torch_threads", None)
    machine["load_average"] = f"{load_before} (start) / {load_average()} (end)"
    import ctranslate2

    header = [
        "machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
        f"ctranslate2 {ctranslate2.__version__}; rabbitmq "
        f"{(rabbitmq_version() or 'not available') if config.e2e else '(not used)'}",
        f"model: {_describe_model(config.model)}; random weights",
        f"workload: {config.segments} segments, {config.mix} mix (jobs of ~"
        f"{config.large_job_size} segments for large); beam {config.beam_size}, "
        f"max_new_tokens {config.max_new_tokens} (HF: exactly that many per segment)",
        f"packing: token budget {config.token_budget}, at most {config.max_batch_segments} "
        f"segments, wait {config.max_wait_s * 1000:.0f} ms (limit and e2e); e2e worker "
        "prefetch 16 (default), timed to "
        + ("mtq.results" if config.webhooks == "off" else "the webhook receiver"),
        "threads: HF Nt = torch intra-op threads (the worker's default here: "
        f"{_hf_default()}); CT2 NxM = replicas x intra threads",
        f"wall time of this benchmark: {elapsed:.0f} s",
    ]
    print("\n".join(header) + "\n")
    print(text_table(results) + "\n")
    print("\n".join(verdicts(results)))
    from bench import report

    cpu = report.text_cpu([r for r in results if r.strategy == "e2e"])
    if cpu:
        print("\n" + cpu)
    for note in sorted(set(notes) | {n for r in results for n in r.notes}):
        print(f"note: {note}")
    if args.json:
        args.json.write_text(json.dumps({
            "header": header, "results": [r.as_dict() for r in results], "notes": notes,
        }, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(
            "\n".join(f"- {line}" for line in header) + "\n\n" + markdown_table(results)
            + "\n\n" + "\n".join(f"- {line}" for line in verdicts(results)) + "\n"
        )
    return 0


def _hf_default() -> int:
    from worker.engines.hf import cpu_threads

    return cpu_threads(0)


def _describe_model(model: str) -> str:
    from bench.models import OPUS_MT_EN_DE, TINY_SHAPE

    if model == "opus":
        return f"opus-mt-en-de-shaped ({OPUS_MT_EN_DE.describe()})"
    return f"tiny ({TINY_SHAPE.describe()})"


# -- GPU ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuSizes:
    segments: int
    max_new_tokens: int
    budget_s: float
    packings: tuple[tuple[int, int], ...] = ((8192, 64), (32768, 256))


GPU_FULL = GpuSizes(segments=768, max_new_tokens=30, budget_s=150)
GPU_TINY = GpuSizes(segments=16, max_new_tokens=4, budget_s=120, packings=((512, 8),))


@dataclass
class _GpuRun:
    started: float
    budget_s: float
    results: list[Any] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    last_s: float = 0.0

    def fits(self) -> bool:
        return time.monotonic() - self.started + self.last_s <= self.budget_s


def gpu_main(args: argparse.Namespace) -> int:
    """The GPU rows; runs where only torch, transformers and ctranslate2 are installed."""
    notes = install_fallbacks()
    try:
        import ctranslate2
    except ImportError:
        print("skipped: ctranslate2 not installed (pip install ctranslate2)")
        return 0
    import torch

    cuda = int(ctranslate2.get_cuda_device_count()) > 0
    if not cuda and not args.tiny:
        print("skipped: no CUDA" + (
            " for ctranslate2 (torch sees a GPU: ctranslate2 needs the CUDA 12 libraries, "
            "e.g. libcublas.so.12, on the library path)" if torch.cuda.is_available() else ""
        ))
        return 0

    from bench.strategies import Packing
    from bench.workload import make_workload
    from mtq.contract import DecodeOptions

    sizes = GPU_TINY if args.tiny else GPU_FULL
    segments = args.segments or sizes.segments
    max_new = args.max_new_tokens or sizes.max_new_tokens
    run = _GpuRun(time.monotonic(), args.budget_s or sizes.budget_s)
    device = "cuda" if cuda and torch.cuda.is_available() else "cpu"
    if device == "cpu":
        notes.append("no CUDA: a CPU check of the script (float16 -> float32, int8_float16 -> "
                     "int8), its numbers are not GPU ones")
    hf_dtype = "float32"
    if device == "cuda":
        hf_dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    engines = [
        EngineConfig("hf", hf_dtype),
        EngineConfig("ctranslate2", "float16" if device == "cuda" else "float32"),
        EngineConfig("ctranslate2", "int8_float16" if device == "cuda" else "int8"),
    ]
    options = DecodeOptions(4, max_new)
    workload = make_workload("small", segments)
    with tempfile.TemporaryDirectory(prefix="mtq-ct2-gpu-") as scratch:
        hf_path, ct2_path = build_models(
            Path(scratch), "tiny" if args.model == "tiny" else "opus", max_new
        )
        print(f"models built and converted in {time.monotonic() - run.started:.1f} s",
              file=sys.stderr, flush=True)
        tokens: list[list[list[int]]] | None = None
        for config in engines:
            if not run.fits():
                run.skipped.append(f"{config.label}: time budget")
                continue
            with loaded(config, hf_path, ct2_path, device) as (engine, _settings):
                if tokens is None:
                    tokens = [engine.encode(list(job)) for job in workload.jobs]
                    floor = cap_floor(tokens)
                    if max_new > floor:
                        notes.append(f"max_new_tokens {max_new} > CT2 cap of the shortest batch "
                                     f"({floor}): compare generated tok/s")
                _gpu_rows(config, engine, tokens, options, workload, run,
                          [Packing(b, s) for b, s in sizes.packings])
    from bench.machine import describe

    machine = describe(device)
    print(f"machine: {', '.join(f'{k} {v}' for k, v in machine.items())}")
    print(f"ctranslate2 {ctranslate2.__version__}; workload: {workload.describe()} (small mix); "
          f"beam 4, max_new_tokens {max_new}; wall {time.monotonic() - run.started:.0f} s\n")
    print(text_table(run.results))
    for note in notes + [f"skipped {s}" for s in run.skipped]:
        print(f"note: {note}")
    return 0


def _gpu_rows(
    config: EngineConfig, engine: Any, tokens: list[list[list[int]]], options: Any,
    workload: Any, run: _GpuRun, packings: list[Any],
) -> None:
    """Limit at each packing, then the in-process scheduler at the fastest one."""
    from bench.cpu import CpuAccount
    from bench.strategies import run_limit, run_scheduler, warm_engine

    def measure(strategy: str, body: Callable[[], Any]) -> Any | None:
        if not run.fits():
            run.skipped.append(f"{config.label} {strategy}: time budget")
            return None
        engine.reset()
        account = CpuAccount({})
        account.start()
        timing = body()
        run.last_s = timing.wall_s
        result = _result(config.label, "small", strategy, len(workload.jobs),
                         workload.segments, timing, engine, account.stop(), config)
        run.results.append(result)
        print(f"[{config.label}] {strategy:22s} {result.segments_per_s:9.1f} seg/s "
              f"{result.generated_tokens_per_s:10.0f} gen tok/s", file=sys.stderr, flush=True)
        return result

    warm_engine(engine, options, packings[0])
    limits = []
    for packing in packings:
        def limit(packing: Any = packing) -> Any:
            return run_limit(engine.generate, tokens, options, packing)

        result = measure(f"limit {packing.token_budget}/{packing.max_batch_segments}", limit)
        if result is not None:
            limits.append((result.segments_per_s, packing))
    if limits:
        best = max(limits, key=lambda item: item[0])[1]
        measure(f"scheduler {best.token_budget}/{best.max_batch_segments}",
                lambda: run_scheduler(engine, tokens, options, best))


if __name__ == "__main__":
    sys.exit(main())
