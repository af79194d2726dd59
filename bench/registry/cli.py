"""``python -m bench registry``: rollover, canary and shadow, measured with a real MLflow
tracking server, worker and broker.

Two versions of the trained test model that translate differently are registered (see
:mod:`bench.registry.versions`); each run streams ``--jobs`` jobs of ``--segments`` segments
into a fresh worker in a private vhost and checks every result against both versions'
translations. Rates are results per second seen by the client; the runs of one invocation
share the machine, so compare them with each other, not with other machines.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bench.registry.scenarios import (
    CanaryRun,
    Checked,
    Plan,
    Rollover,
    ShadowPair,
    ShadowRun,
    canary,
    rollover,
    shadow,
)
from bench.registry.versions import build_versions, differing_sentences, register
from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings

OPTIONS = DecodeOptions(beam_size=4, max_new_tokens=48)  # the trained model's beam
RUNS = ("rollover", "canary", "shadow")


@contextlib.contextmanager
def tracking_server(url: str | None, folder: Path) -> Iterator[str]:
    """``url`` as given, or a server of our own for the run."""
    if url:
        yield url
        return
    from tests.registry.mlflow_server import mlflow_server

    with mlflow_server(folder) as started:
        yield started


def run(args: argparse.Namespace, work: Path, say: Callable[[str], None],
        tracking_uri: str | None = None) -> list[object]:
    """Every run asked for; prints the tables through ``say`` and returns the rows."""
    (work / "mlflow").mkdir(parents=True, exist_ok=True)
    with tracking_server(tracking_uri, work / "mlflow") as url:
        folders = build_versions(work / "models")
        sentences = differing_sentences(folders, args.sentences, OPTIONS, args.threads)
        if not sentences.sources:
            raise RuntimeError("the two versions translate every sentence alike")
        plan = Plan(register(url, folders), sentences, Settings(
            model="unset", torch_threads=args.threads, registry_poll_s=args.poll,
            batch_max_wait_ms=5, default_beam_size=OPTIONS.beam_size,
            default_max_new_tokens=OPTIONS.max_new_tokens, drain_timeout_s=60),
            {"beam_size": OPTIONS.beam_size, "max_new_tokens": OPTIONS.max_new_tokens},
            args.jobs, args.segments, work / "cache")
        say(f"{args.jobs} jobs of {args.segments} segments from {len(sentences.sources)} "
            f"sentences the versions translate differently; beam {OPTIONS.beam_size}, torch "
            f"threads {args.threads}, poll {args.poll} s, {os.cpu_count()} CPUs\n")
        rows: list[object] = []
        if "rollover" in args.runs:
            rows.append(found := rollover(plan))
            say(rollover_table(found))
        if "canary" in args.runs:
            rows.append(share := canary(plan, args.canary))
            say(canary_table(share))
        if "shadow" in args.runs:
            rows.append(costs := shadow(plan, args.shadow, args.paced))
            say(shadow_table(costs))
        return rows


def _checked(checked: Checked) -> str:
    versions = ", ".join(f"v{v} {n}" for v, n in sorted(checked.by_version.items()))
    return (f"{checked.published} | {checked.lost} | {checked.failed} | {checked.mixed} | "
            f"{versions} | {checked.unrecognised_segments}")


CHECK_HEAD = "jobs | lost | failed | mixed versions | answered by | other outputs"


def rollover_table(row: Rollover) -> str:
    before, during, after = row.rates
    return "\n".join([
        f"| {CHECK_HEAD} |", "|---|---|---|---|---|---|", f"| {_checked(row.checked)} |", "",
        "| alias move → switch | → first v2 result | fetch+load+warm | → one model again "
        "| resident after | RSS MiB before / peak / after |", "|---|---|---|---|---|---|",
        f"| {row.move_to_switch_s:.2f} s | {row.move_to_first_v2_s:.2f} s | {row.load_s:.2f} s "
        f"| {row.move_to_freed_s:.2f} s | {row.resident_after} | "
        f"{row.rss_mib[0]:.0f} / {row.rss_mib[1]:.0f} / {row.rss_mib[2]:.0f} |", "",
        "| results/s before the move | during the load | after the switch | during / before |",
        "|---|---|---|---|",
        f"| {before:.1f} | {during:.1f} | {after:.1f} | {during / before if before else 0:.2f} |",
        "",
    ])


def canary_table(row: CanaryRun) -> str:
    return "\n".join([
        f"| {CHECK_HEAD} |", "|---|---|---|---|---|---|", f"| {_checked(row.checked)} |", "",
        "| canary setting | measured share | by the ids' hash | off by | misrouted |",
        "|---|---|---|---|---|",
        f"| {100 * row.share:.1f} % | {100 * row.measured:.1f} % | {100 * row.by_hash:.1f} % "
        f"| {100 * (row.measured - row.share):+.1f} points | {row.misrouted} |", "",
    ])


def shadow_table(row: ShadowRun) -> str:
    lines = [f"| run | {CHECK_HEAD} | client results/s | latency p50 / p95 | shadowed / "
             "dropped |", "|---|---|---|---|---|---|---|---|---|---|"]
    pairs = [("saturated", row.saturated)]
    if row.paced is not None:
        pairs.append((f"paced {row.paced.pace:.0f} jobs/s", row.paced))
    ratios = []
    for label, pair in pairs:
        metrics = pair.metrics
        handled = (f"{metrics.get('mtq_shadow_jobs_total', 0):.0f} / "
                   f"{metrics.get('mtq_shadow_dropped_total', 0):.0f}")
        for n, (name, shadowed) in enumerate(((f"{label}, without", "–"),
                                             (f"{label}, shadow {100 * row.share:.0f} %",
                                              handled))):
            p50, p95 = pair.latency_s[n]
            lines.append(f"| {name} | {_checked(pair.checked[n])} | "
                         f"{pair.results_per_s[n]:.1f} | {p50:.2f} / {p95:.2f} s | {shadowed} |")
        without, with_shadow = pair.results_per_s
        ratios.append(f"{label} {with_shadow / without if without else 0:.3f}")
    lines += ["", "client results/s with / without the shadow: " + ", ".join(ratios), ""]
    return "\n".join(lines + agreement_table(row.offered, pairs[-1][1]))


def agreement_table(offered: int, pair: ShadowPair) -> list[str]:
    """The shadow's exported agreement after its run (the paced one when there is one)."""
    metrics = pair.metrics
    jobs = metrics.get("mtq_shadow_jobs_total", 0.0)
    chrf = metrics.get("mtq_shadow_chrf_sum", 0.0) / jobs if jobs else float("nan")
    ratio = metrics.get("mtq_shadow_length_ratio_sum", 0.0) / jobs if jobs else float("nan")
    deltas = metrics.get("mtq_shadow_confidence_delta_count", 0.0)

    def delta_share(low: str, high: str) -> float:
        above = metrics.get(f"mtq_shadow_confidence_delta_bucket{{le={high}}}", deltas)
        below = metrics.get(f"mtq_shadow_confidence_delta_bucket{{le={low}}}", 0.0)
        return 100 * (above - below) / deltas if deltas else float("nan")

    warnings = sorted((k.split("{", 1)[1].rstrip("}"), v) for k, v in metrics.items()
                      if k.startswith("mtq_shadow_warnings_total{"))
    return [
        "| offered | shadowed | dropped | mean chrF | mean length ratio | confidence Δ "
        "≤ −0.05 / within / > +0.05 | warning disagreements |", "|---|---|---|---|---|---|---|",
        f"| {offered} | {jobs:.0f} | {metrics.get('mtq_shadow_dropped_total', 0):.0f} "
        f"| {chrf:.1f} | {ratio:.3f} | {delta_share('-inf', '-0.05'):.0f} % / "
        f"{delta_share('-0.05', '0.05'):.0f} % / {delta_share('0.05', '+Inf'):.0f} % | "
        f"{metrics.get('mtq_shadow_warning_disagreements_total', 0):.0f} of {deltas:.0f} |",
        "", "warnings (side, code): " + (", ".join(f"{k} {v:.0f}" for k, v in warnings)
                                         or "none"), "",
    ]


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench registry", description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--segments", type=int, default=4, help="per job")
    parser.add_argument("--sentences", type=int, default=120,
                        help="distinct sources the jobs draw on")
    parser.add_argument("--canary", type=float, default=0.1)
    parser.add_argument("--shadow", type=float, default=0.5)
    parser.add_argument("--paced", type=float, default=0.5,
                        help="the shadow's second pair: publish at this fraction of the "
                        "saturated rate (0: none)")
    parser.add_argument("--poll", type=float, default=1.0, help="MTQ_REGISTRY_POLL_S")
    parser.add_argument("--threads", type=int, default=1, help="the worker's torch threads")
    parser.add_argument("--runs", default=",".join(RUNS), help="which of " + ", ".join(RUNS))
    parser.add_argument("--tracking-uri", help="an MLflow server to use (default: start one)")
    args = parser.parse_args(list(argv))
    args.runs = tuple(r for r in args.runs.split(",") if r)
    if unknown := set(args.runs) - set(RUNS):
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per fetch
    with tempfile.TemporaryDirectory(prefix="mtq-bench-registry-") as folder:
        run(args, Path(folder), print, args.tracking_uri)
    return 0
