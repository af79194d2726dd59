"""Translation cache and in-flight dedup rows: the same repetitive workload, cache off and on.

``python -m bench cache``. The workload repeats about 40% of its segments (Zipf-distributed
over a set of recurring sentences, as UI strings and boilerplate recur in localization
content), within jobs and across them. Each mode runs the real worker in this process over a
private vhost of the local RabbitMQ, on the tiny model with a fixed output length (every
computed segment generates exactly ``max_new_tokens`` tokens, so the generated-token count
says how many segments reached the model). The jobs are published first (a backlog larger
than the worker's intake window, ``--intake-segments``), then the worker runs in burst mode;
segments/s is measured from the worker being ready to its last job settled. Every mode must
return string-equal translations.

Modes: ``none`` (no cache, no dedup: every segment computed), ``dedup`` (cache off, identical
segments in flight computed once), ``memory`` (the default: in-process cache and dedup), and
``redis`` when ``--redis URL`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/cache.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cache_workload import RepetitiveWorkload, repetitive_workload

log = logging.getLogger("bench.cache")

CALLBACK = "https://client.example/hooks/mt"


@dataclass
class CacheRow:
    mode: str
    segments: int
    wall_s: float
    generated_tokens: int
    computed_segments: int
    cache_hits: int
    dedup_saved: int
    cached_in_results: int

    @property
    def segments_per_s(self) -> float:
        return self.segments / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "segments_per_s": round(self.segments_per_s, 1)}


def run_mode(
    mode: str, engine: Any, model: Path, workload: RepetitiveWorkload,
    options: dict[str, int], redis_url: str = "", intake_segments: int = 128,
) -> tuple[CacheRow, dict[str, list[str]]]:
    """One mode over a private vhost: (its row, translations by job id)."""
    from mtq.client.declare import declare_all
    from mtq.core.settings import Settings
    from tests.harness import private_vhost, publish_jobs, take_results
    from worker.app import Worker

    cache = {"none": "off", "dedup": "off", "memory": "memory", "redis": redis_url}[mode]
    if mode == "redis":  # every run starts cold, like the memory cache of a new worker
        import redis

        client = redis.Redis.from_url(redis_url)
        client.flushdb()
        client.close()
    with private_vhost("mtq-bench-cache") as (amqp_url, _):
        settings = Settings(
            amqp_url=amqp_url, model=str(model), metrics_port=0,
            intake_segments=intake_segments, batch_max_wait_ms=5, cache=cache, dedup=mode != "none",
            cache_timeout_ms=2000,
        )
        asyncio.run(declare_all(settings))
        jobs = [
            {"job_id": f"bench-{n:05d}", "source_lang": "en", "target_lang": "de",
             "segments": list(texts), "callback_url": CALLBACK, "options": options}
            for n, texts in enumerate(workload.jobs)
        ]
        publish_jobs(amqp_url, jobs)
        worker = Worker(settings, engine)
        wall = asyncio.run(_timed_burst(worker))
        events = take_results(amqp_url)
    sample = worker.registry.get_sample_value
    translations = {e["job_id"]: e.get("translations", []) for e in events}
    failed = [e for e in events if e["type"] != "job.completed"]
    if failed or len(events) != len(jobs):
        raise RuntimeError(f"{mode}: {len(events)} results for {len(jobs)} jobs, "
                           f"{len(failed)} failed: {failed[:1]}")
    row = CacheRow(
        mode=mode, segments=workload.segments, wall_s=wall,
        generated_tokens=int(sample("mtq_generated_tokens_total") or 0),
        computed_segments=int(sample("mtq_segments_total") or 0),
        cache_hits=int(sample("mtq_cache_hits_total") or 0),
        dedup_saved=int(sample("mtq_dedup_saved_segments_total") or 0),
        cached_in_results=sum(e["stats"].get("cached_segments", 0) for e in events),
    )
    return row, translations


async def _timed_burst(worker: Any) -> float:
    """Seconds from the worker being ready (warm, consuming) to its burst run returning."""
    task = asyncio.ensure_future(worker.run(burst=True, health=False))
    while not worker.is_ready() and not task.done():  # noqa: ASYNC110 - a plain predicate
        await asyncio.sleep(0.005)
    started = time.monotonic()
    code = await task
    if code != 0:
        raise RuntimeError(f"the worker exited with {code}")
    return time.monotonic() - started


def run_rows(
    modes: Sequence[str], segments: int, repeat_share: float, max_new_tokens: int,
    work_dir: Path, redis_url: str = "", intake_segments: int = 128, repeat: int = 1,
) -> tuple[RepetitiveWorkload, list[CacheRow]]:
    from bench.models import build_tiny, fix_output_length
    from mtq.core.settings import Settings
    from worker.engines.hf import HFEngine

    workload = repetitive_workload(segments, repeat_share)
    model = build_tiny(work_dir / "tiny")
    fix_output_length(model, max_new_tokens)
    engine = HFEngine(Settings(model=str(model)))
    options = {"beam_size": 2, "max_new_tokens": max_new_tokens}
    best: dict[str, CacheRow] = {}
    reference = None
    for _ in range(repeat):  # rounds of every mode in turn; each mode's fastest run is kept
        for mode in modes:
            row, translations = run_mode(
                mode, engine, model, workload, options, redis_url, intake_segments
            )
            if reference is None:
                reference = translations
            elif translations != reference:
                raise RuntimeError(f"{mode}: translations differ from {modes[0]}'s")
            log.info("%s: %s", mode, row.as_dict())
            if mode not in best or row.wall_s < best[mode].wall_s:
                best[mode] = row
    return workload, [best[mode] for mode in modes]


def markdown(workload: RepetitiveWorkload, rows: list[CacheRow]) -> str:
    base = rows[0]
    lines = [
        f"workload: {workload.describe()}",
        "",
        "| mode | generated tokens | segments computed | cache hits | dedup saved "
        "| segments/s | tokens vs " + base.mode + " |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = row.generated_tokens / base.generated_tokens if base.generated_tokens else 0
        lines.append(
            f"| {row.mode} | {row.generated_tokens} | {row.computed_segments} | "
            f"{row.cache_hits} | {row.dedup_saved} | {row.segments_per_s:.1f} | {ratio:.2f} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench cache", description=__doc__)
    parser.add_argument("--segments", type=int, default=1200)
    parser.add_argument("--repeat-share", type=float, default=0.4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--intake-segments", type=int, default=128,
                        help="MTQ_INTAKE_SEGMENTS: segments in flight together, the reach of "
                        "in-flight dedup (repeats beyond it are cache hits)")
    parser.add_argument("--modes", default="none,dedup,memory",
                        help="comma-separated: none, dedup, memory, redis")
    parser.add_argument("--redis", default="", metavar="URL",
                        help="redis://host:port/db for the redis mode (flushed before each run)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of all modes; each mode's fastest run is reported")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bench import logs

    logs.configure()
    warnings.filterwarnings("ignore", message="Unfeasible length constraints")
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - {"none", "dedup", "memory", "redis"}
    if unknown or not modes:
        print(f"bench.cache: unknown modes {sorted(unknown)}", file=sys.stderr)
        return 2
    if "redis" in modes and not args.redis:
        print("bench.cache: the redis mode needs --redis URL", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mtq-bench-cache-") as scratch:
        workload, rows = run_rows(
            modes, args.segments, args.repeat_share, args.max_new_tokens, Path(scratch),
            args.redis, args.intake_segments, max(1, args.repeat),
        )
    table = markdown(workload, rows)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps({
            "workload": workload.describe(), "rows": [r.as_dict() for r in rows],
        }, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
