"""`mtq plan`: KEDA settings for the worker from a measured throughput, and what they will do.

From one worker's throughput (jobs/s, or segments/s with the average job size), the backlog
to clear and the time to clear it in, recommend the ScaledObject's ``value``,
``maxReplicaCount`` and ``cooldownPeriod``, the drain timeout and the pod's grace period; then
simulate the replica count with KEDA's and the HPA's rules (mtq/tools/plan_sim.py) and print it.

The arithmetic, in short (docs/deploy.md has the long form):

- ``value`` = one worker's window. KEDA's http protocol counts ready + unacked messages, and
  each busy pod holds up to one window unacked, so ceil(messages / window) replicas is
  exactly enough for every waiting job to sit in some pod's window. Smaller would add pods
  that find nothing to take; larger leaves jobs waiting while replicas could still be added.
  The window is MTQ_PREFETCH when it is fixed, and the intake rule's window for the job size
  (mtq/core/intake_rule.py) when the worker sizes it (MTQ_INTAKE_SEGMENTS > 0, the default).
- ``maxReplicaCount`` = ceil(backlog / (jobs_per_s * (target - startup))): the replicas that
  clear the backlog in time once they are up. It is the real cost ceiling.
- grace period = drain timeout + margin; the drain timeout must cover finishing one full GPU
  batch (on SIGTERM the worker finishes it, publishes, requeues the rest).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass

from mtq.core.errors import ConfigError
from mtq.core.intake_rule import FLOOR, WindowRule
from mtq.core.settings import Settings
from mtq.tools.plan_sim import (
    BacklogCurve,
    Drain,
    RatePolicy,
    Sample,
    ScalingRules,
    simulate,
)
from mtq.tools.route_scaling import format_triggers

# Seconds between the end of the worker's drain and SIGKILL: publishing the last results,
# closing the connection, the kubelet's own delay.
GRACE_MARGIN_S = 30
# RabbitMQ's default consumer_timeout: a delivery unacked this long closes the channel.
CONSUMER_TIMEOUT_S = 1800
# What deploy/keda/base/worker-scaledobject.yaml sets (tests/deploy keeps them equal).
POLLING_INTERVAL_S = 15
SCALE_DOWN_WINDOW_S = 300
SCALE_UP = (RatePolicy("Pods", 4, 60), RatePolicy("Percent", 100, 60))
SCALE_DOWN = (RatePolicy("Percent", 50, 60),)


def grace_period_s(drain_timeout_s: float, margin_s: float = GRACE_MARGIN_S) -> int:
    """The ``terminationGracePeriodSeconds`` a worker with this drain timeout needs."""
    return math.ceil(drain_timeout_s + margin_s)


@dataclass(frozen=True)
class Workload:
    """What was measured on one worker, and what it has to achieve."""

    jobs_per_s: float
    backlog_jobs: float
    target_s: float
    startup_s: float
    prefetch: int
    drain_timeout_s: float
    segments_per_job: float | None = None
    max_batch_segments: int = 64
    intake_segments: int = 0  # 0: the window is fixed at prefetch
    prefetch_max: int = 512

    def window(self) -> int:
        """Jobs one busy worker holds unacked for this job size."""
        if self.intake_segments and self.segments_per_job:
            rule = WindowRule(self.intake_segments, min(FLOOR, self.prefetch_max),
                              self.prefetch_max)
            return rule.window_for(self.segments_per_job)
        return self.prefetch


@dataclass(frozen=True)
class Recommendation:
    value: int
    activation_value: int
    max_replicas: int
    cooldown_period_s: int
    drain_timeout_s: int
    grace_period_s: int
    batch_s: float | None
    notes: tuple[str, ...]


def recommend(w: Workload) -> Recommendation:
    if w.jobs_per_s <= 0 or w.backlog_jobs < 0:
        raise ConfigError("throughput must be positive and the backlog not negative")
    if w.target_s <= w.startup_s:
        raise ConfigError(
            f"a {w.target_s:g} s target cannot be met when a new worker needs {w.startup_s:g} s "
            "to start: raise the target or keep warm replicas (minReplicaCount)"
        )
    notes = []
    max_replicas = max(1, math.ceil(w.backlog_jobs / (w.jobs_per_s * (w.target_s - w.startup_s))))
    batch_s = None
    drain_timeout = math.ceil(w.drain_timeout_s)
    if w.segments_per_job:
        batch_s = w.max_batch_segments / (w.jobs_per_s * w.segments_per_job)
        needed = math.ceil(2 * batch_s + 5)
        if needed > drain_timeout:
            notes.append(
                f"MTQ_DRAIN_TIMEOUT_S={w.drain_timeout_s:g} is short of two full batches "
                f"({batch_s:.1f} s each) plus 5 s: raise it to {needed}"
            )
            drain_timeout = needed
        jobs_per_batch = w.max_batch_segments / w.segments_per_job
        if w.intake_segments:
            pass  # the worker sizes its window from the job sizes itself
        elif w.prefetch < jobs_per_batch:
            notes.append(
                f"MTQ_PREFETCH={w.prefetch} is below one batch ({jobs_per_batch:.0f} jobs of "
                f"{w.segments_per_job:g} segments): batches never fill"
            )
        elif w.prefetch > 3 * jobs_per_batch:
            notes.append(
                f"MTQ_PREFETCH={w.prefetch} holds more than three batches: busy pods hoard "
                "jobs that idle new pods could take"
            )
    window = w.window()
    held_s = window / w.jobs_per_s
    if held_s > CONSUMER_TIMEOUT_S / 2:
        notes.append(
            f"a full prefetch window takes {held_s:.0f} s to work off, close to RabbitMQ's "
            f"consumer_timeout ({CONSUMER_TIMEOUT_S} s): lower MTQ_PREFETCH or the job size"
        )
    return Recommendation(
        value=window,
        activation_value=0,
        max_replicas=max_replicas,
        cooldown_period_s=max(300, math.ceil(2 * w.startup_s)),
        drain_timeout_s=drain_timeout,
        grace_period_s=grace_period_s(drain_timeout),
        batch_s=batch_s,
        notes=tuple(notes),
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "plan",
        help="recommend KEDA settings from a measured throughput and simulate scaling",
        description=__doc__.split("\n\n")[1].replace("``", "") if __doc__ else None,
    )
    p.add_argument("--throughput", type=float, required=True,
                   help="one worker's measured throughput (see --unit)")
    p.add_argument("--unit", choices=("jobs", "segments"), default="jobs",
                   help="--throughput is in jobs/s or segments/s (default jobs)")
    p.add_argument("--segments-per-job", type=float,
                   help="average segments per job (needed with --unit segments)")
    p.add_argument("--backlog", type=float, required=True,
                   help="jobs to clear (summed over the routes the worker pool serves)")
    p.add_argument("--routes", help="the routes one worker pool serves (default MTQ_ROUTES): "
                   "prints its trigger on the sum of their queues")
    p.add_argument("--target", type=float, required=True,
                   help="seconds to clear the backlog in")
    p.add_argument("--startup", type=float, default=180,
                   help="seconds from scale-up to a consuming worker (default 180)")
    p.add_argument("--prefetch", type=int, help="a fixed window of this many jobs (default: "
                   "the intake window for --segments-per-job, else MTQ_PREFETCH)")
    p.add_argument("--drain-timeout", type=float, help="default: MTQ_DRAIN_TIMEOUT_S")
    p.add_argument("--max-replicas", type=int, help="simulate this instead of the recommended")
    p.add_argument("--curve", help="simulate this backlog instead of draining --backlog: "
                   "t:messages pairs, e.g. 0:0,60:800,600:800,660:0")
    p.add_argument("--duration", type=int, help="seconds to simulate")
    p.add_argument("--every", type=int, default=60,
                   help="print a row every N seconds, besides every scaling event")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    jobs_per_s = args.throughput
    if args.unit == "segments":
        if not args.segments_per_job:
            raise ConfigError("--unit segments needs --segments-per-job")
        jobs_per_s = args.throughput / args.segments_per_job
    load: BacklogCurve | Drain
    if args.curve:
        try:
            load = BacklogCurve.parse(args.curve)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        title = "the given backlog curve (open loop)"
    else:
        load = Drain(args.backlog, jobs_per_s, math.ceil(args.startup))
        title = f"{args.backlog:g} jobs at t=0, worked off by ready replicas"
    workload = Workload(
        jobs_per_s=jobs_per_s,
        backlog_jobs=args.backlog,
        target_s=args.target,
        startup_s=args.startup,
        prefetch=args.prefetch or settings.prefetch,
        drain_timeout_s=args.drain_timeout or settings.drain_timeout_s,
        segments_per_job=args.segments_per_job,
        max_batch_segments=settings.max_batch_segments,
        intake_segments=0 if args.prefetch else settings.intake_segments,
        prefetch_max=settings.prefetch_max,
    )
    rec = recommend(workload)
    print(format_recommendation(workload, rec))
    routes = tuple(args.routes.replace(",", " ").split()) if args.routes else settings.routes
    print()
    print(format_triggers(routes, rec.value, depth_per_route=rec.value))
    rules = ScalingRules(
        value=rec.value,
        activation_value=rec.activation_value,
        min_replicas=0,
        max_replicas=args.max_replicas or rec.max_replicas,
        polling_interval_s=POLLING_INTERVAL_S,
        cooldown_period_s=rec.cooldown_period_s,
        scale_down_window_s=SCALE_DOWN_WINDOW_S,
        scale_up=SCALE_UP,
        scale_down=SCALE_DOWN,
    )
    duration = args.duration or math.ceil(
        2 * args.target + rules.scale_down_window_s + rules.cooldown_period_s
    )
    samples = _until_settled(simulate(rules, load, duration), args.every)
    print()
    print(f"Simulation: {title}; value={rules.value:g}, max={rules.max_replicas}, "
          f"polling {rules.polling_interval_s} s, cooldown {rules.cooldown_period_s} s, "
          f"scale-down window {rules.scale_down_window_s} s")
    print(format_table(samples, args.every))
    if isinstance(load, Drain):
        print(drain_summary(samples, args.target))
    return 0


def _until_settled(samples: list[Sample], every: int) -> list[Sample]:
    """Drop the tail in which nothing changes any more (keeping ``every`` seconds of it)."""
    last = 0
    for i in range(1, len(samples)):
        a, b = samples[i - 1], samples[i]
        if b.event or (a.messages, a.replicas, a.ready) != (b.messages, b.replicas, b.ready):
            last = i
    return samples[: last + every + 1]


def format_recommendation(w: Workload, rec: Recommendation) -> str:
    lines = [
        f"One worker: {w.jobs_per_s:.3g} jobs/s; clear {w.backlog_jobs:g} jobs in "
        f"{w.target_s:g} s; {w.startup_s:g} s to start a worker.",
        "",
        f"  trigger value                  {rec.value:>6}   = "
        + ("the intake window for this job size" if w.intake_segments and w.segments_per_job
           else "MTQ_PREFETCH") + ": one replica per window of ready+unacked messages",
        f"  activationValue                {rec.activation_value:>6}   any waiting job wakes "
        "a worker",
        f"  maxReplicaCount                {rec.max_replicas:>6}   = ceil({w.backlog_jobs:g} / "
        f"({w.jobs_per_s:.3g} * ({w.target_s:g} - {w.startup_s:g})))",
        f"  cooldownPeriod                 {rec.cooldown_period_s:>6}   >= 300 s and two cold "
        "starts",
        f"  MTQ_DRAIN_TIMEOUT_S            {rec.drain_timeout_s:>6}"
        + (f"   covers a full batch ({rec.batch_s:.1f} s) twice" if rec.batch_s else ""),
        f"  terminationGracePeriodSeconds  {rec.grace_period_s:>6}   = drain timeout + "
        f"{GRACE_MARGIN_S} s",
    ]
    lines += [f"  note: {note}" for note in rec.notes]
    return "\n".join(lines)


def format_table(samples: Sequence[Sample], every: int) -> str:
    rows = ["      t   messages  active  hpa  replicas  ready  event"]
    previous: Sample | None = None
    for s in samples:
        changed = previous is not None and (s.ready != previous.ready or s.event)
        if s.t % every == 0 or changed or s is samples[-1]:
            hpa = "" if s.desired is None else str(s.desired)
            rows.append(f"{s.t:>7} {s.messages:>10.0f}  {'yes' if s.active else 'no':>6} "
                        f"{hpa:>4} {s.replicas:>9} {s.ready:>6}  {s.event}".rstrip())
        previous = s
    return "\n".join(rows)


def drain_summary(samples: Sequence[Sample], target_s: float) -> str:
    cleared = next((s.t for s in samples if s.messages <= 0), None)
    peak = max(s.replicas for s in samples)
    if cleared is None:
        return f"Backlog not cleared within the simulation (peak {peak} replicas)."
    verdict = "within" if cleared <= target_s else "OVER"
    return (f"Backlog cleared at t={cleared} s, {verdict} the {target_s:g} s target; "
            f"peak {peak} replicas.")
