"""The comparison's table (each row against the fastest HF row) and its verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.ct2.config import Ct2Config

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


def header_lines(
    config: Ct2Config, machine: dict[str, Any], rabbitmq: str | None, elapsed: float
) -> list[str]:
    """What the table was measured on and how (``rabbitmq``: None when e2e did not run)."""
    import ctranslate2

    return [
        "machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
        f"ctranslate2 {ctranslate2.__version__}; rabbitmq "
        f"{(rabbitmq or 'not available') if config.e2e else '(not used)'}",
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


def _hf_default() -> int:
    from worker.engines.hf import cpu_threads

    return cpu_threads(0)


def _describe_model(model: str) -> str:
    from bench.models import OPUS_MT_EN_DE, TINY_SHAPE

    if model == "opus":
        return f"opus-mt-en-de-shaped ({OPUS_MT_EN_DE.describe()})"
    return f"tiny ({TINY_SHAPE.describe()})"
