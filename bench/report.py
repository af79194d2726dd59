"""The table and the target ratios, as text for the terminal and Markdown for the docs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.measure import RunResult

STRATEGY_ORDER = ("limit", "scheduler", "e2e", "e2e-tuned", "naive", "fixed")
STRATEGY_LABELS = {
    "limit": "limit (raw engine, packed)",
    "scheduler": "mtq in-process (scheduler+engine)",
    "e2e": "mtq end to end",
    "e2e-tuned": "mtq end to end, tuned prefetch",
    "naive": "naive (one job at a time)",
    "fixed": "fixed batches (arrival order)",
}

COLUMNS = (
    "model", "mix", "strategy", "jobs", "segs", "wall s", "seg/s", "gen tok/s", "pad waste",
    "batches (mean)", "engine busy", "p50 s", "p95 s", "peak MiB", "others",
)


def _row(result: RunResult) -> list[str]:
    memory = result.peak_rss_bytes / 2**20
    peak = f"{memory:,.0f}"
    if result.peak_gpu_bytes is not None:
        peak += f" / GPU {result.peak_gpu_bytes / 2**20:,.0f}"
    return [
        result.model,
        result.mix,
        STRATEGY_LABELS.get(result.strategy, result.strategy),
        str(result.jobs),
        str(result.segments),
        f"{result.wall_s:.2f}",
        f"{result.segments_per_s:,.1f}",
        f"{result.generated_tokens_per_s:,.0f}",
        f"{100 * result.padding_waste:.1f}%",
        f"{len(result.batches)} ({result.mean_batch:.1f})",
        f"{100 * result.engine_busy:.0f}%",
        f"{result.p50_s:.2f}",
        f"{result.p95_s:.2f}",
        peak,
        "?" if result.others_cores is None else f"{result.others_cores:.2f}",
    ]


def _ordered(results: Sequence[RunResult]) -> list[RunResult]:
    def key(result: RunResult) -> tuple[int, int, int]:
        models = list(dict.fromkeys(r.model for r in results))
        mixes = list(dict.fromkeys(r.mix for r in results))
        order = STRATEGY_ORDER.index(result.strategy) if result.strategy in STRATEGY_ORDER else 99
        return models.index(result.model), mixes.index(result.mix), order

    return sorted(results, key=key)


def aligned(columns: Sequence[str], rows: Sequence[Sequence[str]], first_numeric: int = 3) -> str:
    """A plain-text table: a header, a rule, then the rows; columns from ``first_numeric`` on
    are right-aligned."""
    table = [list(columns), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    lines = []
    for n, row in enumerate(table):
        cells = [
            cell.rjust(widths[i]) if i >= first_numeric and n else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(results: Sequence[RunResult]) -> str:
    return aligned(COLUMNS, [_row(r) for r in _ordered(results)])


def markdown_table(results: Sequence[RunResult]) -> str:
    return markdown(COLUMNS, [_row(r) for r in _ordered(results)])


@dataclass(frozen=True)
class Ratio:
    model: str
    mix: str
    name: str
    value: float
    target: str
    met: bool | None  # None: informational


def ratios(results: Sequence[RunResult], gpu: bool = False) -> list[Ratio]:
    """The issue's targets, from rows of the same run."""
    found: list[Ratio] = []
    groups: dict[tuple[str, str], dict[str, RunResult]] = {}
    for result in results:
        groups.setdefault((result.model, result.mix), {})[result.strategy] = result
    naive_target = 10.0 if gpu else 3.0
    for (model, mix), rows in groups.items():
        def rate(strategy: str, rows: dict[str, RunResult] = rows) -> float | None:
            row = rows.get(strategy)
            return row.segments_per_s if row is not None else None

        limit, e2e, inproc = rate("limit"), rate("e2e"), rate("scheduler")
        tuned = rate("e2e-tuned")
        naive, fixed = rate("naive"), rate("fixed")
        if e2e and limit:
            found.append(
                Ratio(model, mix, "e2e / limit", e2e / limit, ">= 0.95", e2e / limit >= 0.95)
            )
        if tuned and limit:
            found.append(Ratio(
                model, mix, "e2e-tuned / limit", tuned / limit, ">= 0.95", tuned / limit >= 0.95
            ))
        if inproc and limit:
            found.append(Ratio(model, mix, "in-process / limit", inproc / limit, "(info)", None))
        best = e2e or inproc
        label = "e2e" if e2e else "in-process"
        if tuned and naive:
            found.append(Ratio(
                model, mix, "e2e-tuned / naive", tuned / naive, f">= {naive_target:g}",
                tuned / naive >= naive_target,
            ))
        if best and naive:
            found.append(Ratio(
                model, mix, f"{label} / naive", best / naive, f">= {naive_target:g}",
                best / naive >= naive_target,
            ))
        if best and fixed:
            found.append(Ratio(model, mix, f"{label} / fixed", best / fixed, "(info)", None))
        for name in ("e2e", "e2e-tuned", "scheduler", "limit"):
            row = rows.get(name)
            if row is not None:
                tag = "in-process" if name == "scheduler" else name
                waste = row.padding_waste
                found.append(Ratio(
                    model, mix, f"{tag} padding waste", waste, "<= 10%", waste <= 0.10,
                ))
    return found


def _ratio_cells(ratio: Ratio) -> list[str]:
    value = f"{100 * ratio.value:.1f}%" if "waste" in ratio.name else f"{ratio.value:.2f}x"
    verdict = "" if ratio.met is None else ("met" if ratio.met else "NOT met")
    return [ratio.model, ratio.mix, ratio.name, value, ratio.target, verdict]


def text_ratios(found: Sequence[Ratio]) -> str:
    rows = [["model", "mix", "ratio", "value", "target", ""]] + [_ratio_cells(r) for r in found]
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    )


def markdown_ratios(found: Sequence[Ratio]) -> str:
    lines = ["| model | mix | ratio | value | target | |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(_ratio_cells(r)) + " |" for r in found]
    return "\n".join(lines)


def cpu_rows(results: Sequence[RunResult]) -> list[list[str]]:
    """CPU seconds by thread and process for the end-to-end rows (see :mod:`bench.cpu`)."""
    rows = []
    for result in _ordered(results):
        cpu = result.extra.get("cpu_s") or {}
        if not result.strategy.startswith("e2e") or not cpu:
            continue
        wall = result.wall_s
        tail = result.extra.get("compute_done_s")
        head = f"{result.model}/{result.mix}/{result.strategy}: wall {wall:.2f} s"
        if tail is not None:
            head += f", last batch done at {tail:.2f} s"
        rows.append([head, "", ""])
        for label, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
            rows.append([f"  {label}", f"{seconds:.2f}", f"{100 * seconds / wall:.0f}%"])
    return rows


def text_cpu(results: Sequence[RunResult]) -> str:
    rows = cpu_rows(results)
    if not rows:
        return ""
    rows = [["where the CPU went (e2e)", "cpu s", "of one core"], *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        f"{row[0].ljust(widths[0])}  {row[1].rjust(widths[1])}  {row[2].rjust(widths[2])}"
        for row in rows
    )


def markdown_cpu(results: Sequence[RunResult]) -> str:
    rows = cpu_rows(results)
    if not rows:
        return ""
    lines = ["| where the CPU went (e2e) | cpu s | of one core |", "|---|---|---|"]
    lines += [f"| {a.strip() if not b else a.replace('  ', '- ', 1)} | {b} | {c} |"
              for a, b, c in rows]
    return "\n".join(lines)
