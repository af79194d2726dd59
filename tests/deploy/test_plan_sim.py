"""The scaling simulator and `mtq plan` against cases worked out by hand."""

from __future__ import annotations

import pytest

from mtq.cli.main import main
from mtq.core.errors import ConfigError
from mtq.tools.plan import Workload, grace_period_s, recommend
from mtq.tools.plan_sim import (
    BacklogCurve,
    Drain,
    RatePolicy,
    Sample,
    ScalingRules,
    hpa_desired,
    simulate,
)

# No rate limits, so only ceil(), tolerance, windows, activation and cooldown show.
UNLIMITED = (RatePolicy("Pods", 1000, 15),)


def rules(**changes: object) -> ScalingRules:
    base: dict[str, object] = dict(
        value=16, polling_interval_s=30, cooldown_period_s=300, scale_down_window_s=300,
        scale_up=UNLIMITED, scale_down=UNLIMITED,
    )
    base.update(changes)
    return ScalingRules(**base)  # type: ignore[arg-type]


def replicas_at(samples: list[Sample], *times: int) -> list[int]:
    return [samples[t].replicas for t in times]


def constant(messages: float) -> BacklogCurve:
    return BacklogCurve(((0.0, messages),))


@pytest.mark.parametrize(
    ("messages", "replicas", "expected"),
    [
        (100, 1, 7),     # ceil(100 / 16)
        (170, 10, 10),   # 170 / 160 = 1.0625: inside the 0.1 tolerance, no change
        (180, 10, 12),   # 180 / 160 = 1.125: outside, ceil(11.25)
        (150, 10, 10),   # 150 / 160 = 0.9375: inside
        (140, 10, 9),    # 140 / 160 = 0.875: outside, ceil(8.75)
        (0, 3, 0),       # the HPA's floor (1) is applied later, KEDA's (0) by cooldown
    ],
)
def test_hpa_desired(messages: float, replicas: int, expected: int) -> None:
    assert hpa_desired(messages, 16, replicas, 0.1) == expected


def test_activation_value_is_a_strict_threshold() -> None:
    idle = simulate(rules(activation_value=5), constant(5), 120)
    assert replicas_at(idle, 0, 60, 120) == [0, 0, 0]
    woke = simulate(rules(activation_value=5), constant(6), 120)
    assert woke[0].event == "KEDA activates: 0 -> 1"
    assert replicas_at(woke, 0, 120) == [1, 1]  # ceil(6 / 16) = 1


def test_scale_from_zero_then_ceil() -> None:
    samples = simulate(rules(), constant(100), 60)
    assert samples[0].event == "KEDA activates: 0 -> 1; HPA: 1 -> 7"
    assert replicas_at(samples, 0, 30, 60) == [7, 7, 7]


def test_max_replicas_caps() -> None:
    assert simulate(rules(max_replicas=4), constant(1000), 30)[30].replicas == 4


def test_default_scale_up_rate_doubles_or_adds_four_per_15s() -> None:
    """Kubernetes' default scale-up: max(+4 pods, +100%) per 15 s window."""
    samples = simulate(
        rules(value=10, scale_up=(RatePolicy("Pods", 4, 15), RatePolicy("Percent", 100, 15))),
        constant(1000), 90,
    )
    # 1 -> 5 (1 + 4 beats 2), 10 (5 * 2 beats 9), 20, 40, 80, then the desired 100.
    assert replicas_at(samples, 0, 15, 30, 45, 60, 75) == [5, 10, 20, 40, 80, 100]


def test_stabilization_window_then_cooldown_to_zero() -> None:
    """160 messages until t=100, then none.

    HPA (every 15 s): 10 replicas; from t=105 it recommends 0, but the highest recommendation
    of the last 300 s is 10 until the last one (t=90) leaves the window: at t=390 it scales
    to 1 (its floor). KEDA (every 30 s) last saw messages at t=90; 90 + 300 < t first holds
    at the poll at t=420: 1 -> 0.
    """
    curve = BacklogCurve(((0, 160), (100, 160), (101, 0)))
    samples = simulate(rules(), curve, 480)
    assert replicas_at(samples, 0, 100, 389) == [10, 10, 10]
    assert samples[390].event == "HPA: 10 -> 1"
    assert replicas_at(samples, 390, 419) == [1, 1]
    assert samples[420].event == "KEDA cooldown: 1 -> 0"
    assert samples[480].replicas == 0


def test_scale_down_rate_policy() -> None:
    """Half the pods a minute: 8 -> 4 -> 2 -> 1, once the window has passed."""
    curve = BacklogCurve(((0, 128), (10, 128), (11, 0)))
    samples = simulate(
        rules(scale_down=(RatePolicy("Percent", 50, 60),), cooldown_period_s=3600), curve, 600
    )
    assert samples[0].replicas == 8
    changes = [(s.t, s.event) for s in samples if s.event.startswith("HPA") and s.t > 0]
    # Last recommendation of 8 at t=0 (t=15 already saw 0): leaves the window at t=300.
    assert changes == [(300, "HPA: 8 -> 4"), (360, "HPA: 4 -> 2"), (420, "HPA: 2 -> 1")]


def test_min_replicas_keeps_a_floor() -> None:
    samples = simulate(rules(min_replicas=2), constant(0), 900, start_replicas=2)
    assert {s.replicas for s in samples} == {2}


def test_busy_pod_survives_under_http_but_not_amqp_counting() -> None:
    """16 jobs wait; from t=5 one busy pod holds all of them unacked (prefetch 16) and works
    on them for half an hour. http counts 16 throughout; amqp counts ready ones: 16, then 0,
    so KEDA's last active poll is t=0 and 0 + 300 < t first holds at the poll at t=330."""
    http = simulate(rules(), constant(16), 1800, start_replicas=1)
    amqp = simulate(rules(), BacklogCurve(((0, 16), (4, 16), (5, 0))), 1800, start_replicas=1)
    assert {s.replicas for s in http} == {1}
    assert amqp[330].event == "KEDA cooldown: 1 -> 0"
    assert replicas_at(amqp, 329, 330) == [1, 0]


def test_closed_loop_drain() -> None:
    """100 jobs, one replica at 1 job/s that needs 10 s to start: empty at t=110."""
    samples = simulate(rules(value=100), Drain(100, 1.0, 10), 200)
    assert samples[0].replicas == 1 and samples[9].ready == 0 and samples[10].ready == 1
    assert samples[60].messages == 50
    assert next(s.t for s in samples if s.messages <= 0) == 110


def test_backlog_curve_interpolates() -> None:
    curve = BacklogCurve.parse("0:0, 60:600, 120:600")
    assert [curve.at(t) for t in (0, 30, 60, 90, 500)] == [0, 300, 600, 600, 600]
    with pytest.raises(ValueError):
        BacklogCurve.parse("60:1,0:2")


# -- recommendations ---------------------------------------------------------------------------


def workload(**changes: object) -> Workload:
    base: dict[str, object] = dict(
        jobs_per_s=5.0, backlog_jobs=5000, target_s=900, startup_s=180, prefetch=16,
        drain_timeout_s=60, segments_per_job=8, max_batch_segments=64,
    )
    base.update(changes)
    return Workload(**base)  # type: ignore[arg-type]


def test_recommendation_by_hand() -> None:
    rec = recommend(workload())
    assert rec.value == 16                 # = prefetch
    assert rec.max_replicas == 2           # ceil(5000 / (5 * (900 - 180))) = ceil(1.39)
    assert rec.batch_s == pytest.approx(1.6)  # 64 segments / (5 jobs/s * 8 segments)
    assert rec.drain_timeout_s == 60       # two batches + 5 s = 9 s is covered
    assert rec.grace_period_s == 90        # 60 + 30
    assert rec.cooldown_period_s == 360    # two cold starts
    assert rec.notes == ()


def test_recommendation_raises_a_short_drain_timeout() -> None:
    rec = recommend(workload(jobs_per_s=0.5, drain_timeout_s=20))
    # batch = 64 / (0.5 * 8) = 16 s; 2 * 16 + 5 = 37
    assert (rec.drain_timeout_s, rec.grace_period_s) == (37, 67)
    assert any("MTQ_DRAIN_TIMEOUT_S" in note for note in rec.notes)
    # ceil(5000 / (0.5 * 720)) = 14
    assert rec.max_replicas == 14


def test_recommendation_flags_prefetch_below_a_batch_and_impossible_targets() -> None:
    assert any("below one batch" in n for n in recommend(workload(prefetch=4)).notes)
    assert any("consumer_timeout" in n for n in recommend(workload(jobs_per_s=0.001)).notes)
    with pytest.raises(ConfigError):
        recommend(workload(target_s=120))
    assert grace_period_s(60) == 90 and grace_period_s(59.5, margin_s=10) == 70


def test_mtq_plan_command(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([
        "plan", "--throughput", "40", "--unit", "segments", "--segments-per-job", "8",
        "--backlog", "5000", "--target", "900", "--startup", "180", "--prefetch", "16",
        "--drain-timeout", "60",
    ])
    out = capsys.readouterr().out
    assert code == 0
    assert "maxReplicaCount                     2" in out
    assert "terminationGracePeriodSeconds      90" in out
    assert "KEDA activates: 0 -> 1" in out
    assert "within the 900 s target" in out


def test_mtq_plan_with_a_curve(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([
        "plan", "--throughput", "5", "--backlog", "5000", "--target", "900", "--prefetch", "16",
        "--curve", "0:0,60:800,600:800,660:0", "--max-replicas", "8",
    ])
    out = capsys.readouterr().out
    assert code == 0
    assert "HPA: 5 -> 8" in out and "KEDA cooldown" in out
    assert main(["plan", "--throughput", "5", "--unit", "segments", "--backlog", "1",
                 "--target", "900"]) == 2


def test_value_follows_the_intake_window_for_the_job_size() -> None:
    # 1-segment jobs: a worker holds ceil(256 / 1) + 1 = 257 of them, so KEDA's value is 257.
    assert recommend(workload(segments_per_job=1, intake_segments=256)).value == 257
    # 300-segment jobs: the floor, two jobs per worker.
    assert recommend(workload(segments_per_job=300, intake_segments=256)).value == 2
    # A fixed window (MTQ_INTAKE_SEGMENTS=0 or an explicit --prefetch) is the value itself.
    assert recommend(workload(segments_per_job=1, intake_segments=0)).value == 16


def test_mtq_plan_prints_the_window_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--throughput", "400", "--unit", "segments", "--segments-per-job",
                 "1", "--backlog", "50000", "--target", "900"]) == 0
    out = capsys.readouterr().out
    assert "trigger value                     512   = the intake window" in out
