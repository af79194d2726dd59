"""Intake, lanes, tenants and the pipeline's own cost: ``python -m bench intake``.

Four tables, each measured side by side in one run on the tiny model (random weights, fixed
output length, so every computed segment costs the same):

1. **window**: segments/s end to end (publish -> broker -> worker -> dispatcher -> webhook)
   with the default intake window against fixed prefetches, on the small-jobs and large-jobs
   mixes of :mod:`bench.workload`; the default's ratio to the best fixed one.
2. **lanes**: latency of 1-segment interactive jobs published while a bulk backlog is worked
   off, published to the interactive lane vs. to the bulk lane, in batch times (the mean
   ``generate`` time of the run), timed from publish to the result in ``mtq.results``.
3. **tenants**: time until a small tenant's jobs, published behind a large tenant's backlog,
   are all done: with ``tenant`` set on both vs. without (one default tenant, oldest first).
4. **pipeline**: jobs/s and CPU ms per job of the worker and of the dispatcher with negligible
   model work (1 segment, beam 1, 1 new token), end to end.

The machine is shared: read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/intake.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

log = logging.getLogger("bench.intake")

CALLBACK = "https://client.example/hooks/mt"
FIXED_PREFETCHES = (16, 64, 256)


@dataclass(frozen=True)
class Row:
    cells: tuple[str, ...]


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- 1. the intake window vs. fixed prefetches -------------------------------------------------


def window_rows(engine: Any, segments: int, max_new_tokens: int, work_dir: Path,
                repeats: int = 3) -> str:
    """Each configuration ``repeats`` times, interleaved (ABCD ABCD ...), median reported:
    the machine's load drifts, so side by side beats one after the other."""
    from bench.e2e import run_end_to_end
    from bench.workload import MIXES, make_workload
    from mtq.core.settings import Settings

    options = {"beam_size": 2, "max_new_tokens": max_new_tokens}
    base = Settings(metrics_port=0, batch_max_wait_ms=20)
    configs: list[tuple[str, Settings]] = [("default (intake window)", base)]
    configs += [(f"fixed prefetch {p}", base.replace(prefetch=p, intake_segments=0))
                for p in FIXED_PREFETCHES]
    rows = []
    for mix in MIXES:
        workload = make_workload(mix, segments)
        seen: dict[str, list[float]] = {label: [] for label, _ in configs}
        for _ in range(repeats):
            for label, settings in configs:
                timing = run_end_to_end(engine, [list(j) for j in workload.jobs], options,
                                        settings, work_dir=work_dir)
                seen[label].append(workload.segments / timing.wall_s)
                log.info("window %s %s: %.1f seg/s", mix, label, seen[label][-1])
        rates = {label: statistics.median(values) for label, values in seen.items()}
        best = max(v for k, v in rates.items() if k.startswith("fixed"))
        for label, rate in rates.items():
            spread = f"{min(seen[label]):.0f}-{max(seen[label]):.0f}"
            rows.append((f"{mix} ({workload.describe()})", label, f"{rate:.1f}", spread,
                         f"{rate / best:.2f}"))
    return table(("mix", "intake", "segments/s (median)", "range", "÷ best fixed"), rows)


# -- 2 and 3: in-process runs with timed publishes ---------------------------------------------


async def _timed_run(
    engine: Any, amqp_url: str, settings: Any, backlog: list[tuple[str, dict[str, Any]]],
    later: list[tuple[str, dict[str, Any]]], later_every_s: float,
) -> tuple[dict[str, float], float]:
    """Publish ``backlog``, start the worker, publish ``later`` one by one; returns each job's
    seconds to its result (from publish, or from the worker being ready for the backlog) and
    the run's mean batch (``generate``) time."""
    import aio_pika

    from mtq.core import result_batch
    from mtq.core.topology import JOBS_EXCHANGE, RESULTS_QUEUE
    from worker.app import Worker

    published: dict[str, float] = {}
    done: dict[str, float] = {}
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(JOBS_EXCHANGE)

        async def publish(key: str, job: dict[str, Any]) -> None:
            published[job["job_id"]] = time.monotonic()
            await exchange.publish(aio_pika.Message(json.dumps(job).encode()), routing_key=key)

        for key, job in backlog:
            await publish(key, job)
        results = await channel.get_queue(RESULTS_QUEUE)

        async def on_result(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            for _, body in result_batch.events(message.headers, message.body):
                done[json.loads(body)["job_id"]] = time.monotonic()
            await message.ack()

        await results.consume(on_result)
        worker = Worker(settings, engine)
        task = asyncio.ensure_future(worker.run(health=False))
        while not worker.is_ready():  # noqa: ASYNC110 - a plain predicate
            await asyncio.sleep(0.01)
        # The backlog waited for the worker's start (model load, thread tuning): time it from
        # the worker being ready, so every run measures the same thing.
        ready = time.monotonic()
        published.update(dict.fromkeys(published, ready))
        for key, job in later:
            await asyncio.sleep(later_every_s)
            await publish(key, job)
        total = len(backlog) + len(later)
        while len(done) < total:
            if task.done():
                task.result()
                raise RuntimeError("the worker stopped during the run")
            await asyncio.sleep(0.02)
        worker.request_stop()
        await task
    sample = worker.registry.get_sample_value
    batches = sample("mtq_inference_seconds_count") or 1
    batch_s = (sample("mtq_inference_seconds_sum") or 0) / batches
    return {job: done[job] - published[job] for job in done}, batch_s


def _run_in_vhost(engine: Any, settings: Any, backlog: Any, later: Any, every: float
                  ) -> tuple[dict[str, float], float]:
    from mtq.client.declare import declare_all
    from tests.harness import private_vhost

    with private_vhost("mtq-bench-intake") as (amqp_url, _):
        run_settings = settings.replace(amqp_url=amqp_url)
        asyncio.run(declare_all(run_settings))
        return asyncio.run(_timed_run(engine, amqp_url, run_settings, backlog, later, every))


def _job(job_id: str, texts: Sequence[str], options: dict[str, int], **extra: Any
         ) -> dict[str, Any]:
    return {"job_id": job_id, "source_lang": "en", "target_lang": "de", "segments": list(texts),
            "callback_url": CALLBACK, "options": options, **extra}


def lane_rows(engine: Any, backlog_segments: int, interactive: int, options: dict[str, int]
              ) -> str:
    from mtq.core.settings import Settings
    from mtq.core.topology import interactive_routing_key
    from mtq.tools.tiny_corpus import generated_sentences

    sentences = list(generated_sentences(backlog_segments + interactive, seed=31))
    bulk = [("en-de", _job(f"bulk-{n}", sentences[i:i + 20], options))
            for n, i in enumerate(range(0, backlog_segments, 20))]
    settings = Settings(model="", routes=("en-de",), metrics_port=0, batch_max_wait_ms=20)
    rows = []
    for lane, key in (("interactive lane", interactive_routing_key("en-de")),
                      ("bulk lane (no lanes)", "en-de")):
        chats = [(key, _job(f"chat-{n}", [sentences[backlog_segments + n]], options))
                 for n in range(interactive)]
        latencies, batch_s = _run_in_vhost(engine, settings, bulk, chats, 0.25)
        chat = [latencies[job["job_id"]] for _, job in chats]
        p50, p95 = statistics.median(chat), percentile(chat, 0.95)
        rows.append((lane, f"{p50:.2f}", f"{p95:.2f}", f"{batch_s * 1000:.0f}",
                     f"{p95 / batch_s:.1f}", f"{max(latencies.values()):.1f}"))
        log.info("lanes %s: p50 %.2f s p95 %.2f s", lane, p50, p95)
    return table(("interactive jobs published to", "p50 s", "p95 s", "batch ms",
                  "p95 in batch times", "backlog done s"), rows)


def tenant_rows(engine: Any, large_jobs: int, small_jobs: int, options: dict[str, int]) -> str:
    from mtq.core.settings import Settings
    from mtq.tools.tiny_corpus import generated_sentences

    sentences = list(generated_sentences(large_jobs * 20 + small_jobs * 2, seed=41))
    settings = Settings(model="", routes=("en-de",), metrics_port=0, batch_max_wait_ms=20,
                        prefetch=large_jobs + small_jobs, intake_segments=0)
    rows = []
    for label, tagged in (("with tenants", True), ("without (one default tenant)", False)):
        def extra(tenant: str, tagged: bool = tagged) -> dict[str, str]:
            return {"tenant": tenant} if tagged else {}

        big = [("en-de", _job(f"big-{n}", sentences[n * 20:(n + 1) * 20], options,
                              **extra("big"))) for n in range(large_jobs)]
        start = large_jobs * 20
        small = [("en-de", _job(f"small-{n}", sentences[start + 2 * n:start + 2 * n + 2],
                                options, **extra("small"))) for n in range(small_jobs)]
        latencies, _ = _run_in_vhost(engine, settings, big + small, [], 0)
        small_done = max(latencies[job["job_id"]] for _, job in small)
        big_done = max(latencies[job["job_id"]] for _, job in big)
        rows.append((label, f"{small_done:.1f}", f"{big_done:.1f}",
                     f"{small_done / big_done:.2f}"))
        log.info("tenants %s: small done %.1f s, large %.1f s", label, small_done, big_done)
    return table(("jobs", "small tenant done s", "large tenant done s", "small ÷ large"), rows)


# -- 4. the pipeline's own cost ----------------------------------------------------------------


def pipeline_rows(engine: Any, jobs: int, work_dir: Path, repeats: int = 1) -> str:
    """jobs/s and CPU ms per job, with result events sharing messages (the default) and with a
    message per event, interleaved ``repeats`` times; a second table splits every process's
    CPU per job of the last default run, since on one machine the broker and the client share
    the cores that bound jobs/s."""
    from bench.e2e import run_end_to_end
    from mtq.core.settings import Settings
    from mtq.tools.tiny_corpus import generated_sentences

    texts = [[s] for s in generated_sentences(jobs, seed=51)]
    default = Settings(metrics_port=0, batch_max_wait_ms=20)
    configs = (("default (events share messages)", default),
               ("a message per event (`MTQ_RESULTS_PER_MESSAGE=1`)",
                default.replace(results_per_message=1)))
    rows, last_default = [], None
    for _ in range(repeats):
        for name, settings in configs:
            timing = run_end_to_end(engine, texts, {"beam_size": 1, "max_new_tokens": 1},
                                    settings, work_dir=work_dir)
            if settings is default:
                last_default = timing
            cpu = timing.cpu_s
            worker_s = sum(v for k, v in cpu.items() if k.startswith("worker"))
            rows.append((name, f"{jobs / timing.wall_s:.0f}", f"{1000 * worker_s / jobs:.2f}",
                         f"{1000 * cpu.get('dispatcher', 0.0) / jobs:.2f}",
                         f"{1000 * cpu.get('rabbitmq', 0.0) / jobs:.2f}",
                         str(timing.deferred_webhooks)))
    summary = table(("results", "jobs/s", "worker CPU ms/job", "dispatcher CPU ms/job",
                     "RabbitMQ CPU ms/job", "webhooks deferred"), rows)
    assert last_default is not None
    total = sum(last_default.cpu_s.values())
    split = [(name, f"{1000 * cpu / jobs:.3f}")
             for name, cpu in sorted(last_default.cpu_s.items())]
    split.append(("all of the machine", f"{1000 * total / jobs:.3f}"))
    cores = os.cpu_count() or 1
    bound = f"{cores * jobs / total:.0f}" if total > 0 else "?"
    return (f"{jobs} one-segment jobs per run.\n\n" + summary + "\n\n"
            + table(("CPU of (default)", "ms per job"), split)
            + f"\n\nAt this CPU per job, {cores} cores allow at most about {bound} jobs/s.")


# -- command line ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench intake", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", default="window,lanes,tenants,pipeline",
                        help="which tables, comma separated")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--segments", type=int, default=1200, help="segments per mix (window)")
    parser.add_argument("--backlog", type=int, default=20000, help="bulk backlog (lanes)")
    parser.add_argument("--pipeline-jobs", type=int, default=2000)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved runs (window, pipeline)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bench import logs

    logs.configure()
    from bench.models import build_tiny, fix_output_length
    from mtq.core.settings import Settings
    from worker.engines.hf import HFEngine

    wanted = set(args.tables.split(","))
    segments, backlog, pipeline_jobs = args.segments, args.backlog, args.pipeline_jobs
    repeats = args.repeats
    if args.quick:
        segments, backlog, pipeline_jobs, repeats = 120, 400, 100, 1
    options = {"beam_size": 2, "max_new_tokens": args.max_new_tokens}
    with tempfile.TemporaryDirectory(prefix="mtq-bench-intake-") as tmp:
        work_dir = Path(tmp)
        model = build_tiny(work_dir / "tiny")
        fix_output_length(model, args.max_new_tokens)
        engine = HFEngine(Settings(model=str(model)))
        out = []
        if "window" in wanted:
            out.append("## Intake window vs. fixed prefetch\n\n"
                       + window_rows(engine, segments, args.max_new_tokens, work_dir, repeats))
        if "lanes" in wanted:
            out.append(f"## Interactive latency during a {backlog}-segment bulk backlog\n\n"
                       + lane_rows(engine, backlog, 10 if args.quick else 40, options))
        if "tenants" in wanted:
            large = 10 if args.quick else 100
            out.append("## A small tenant behind a large tenant's backlog\n\n"
                       + tenant_rows(engine, large, 5 if args.quick else 10, options))
        if "pipeline" in wanted:
            out.append("## Pipeline cost with negligible model work\n\n"
                       + pipeline_rows(engine, pipeline_jobs, work_dir, repeats))
    print("\n\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
