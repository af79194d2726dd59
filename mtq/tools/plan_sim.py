"""What KEDA and the HPA will do with a queue: a pure, deterministic model in one-second steps.

KEDA polls the trigger every ``pollingInterval``: it wakes a Deployment from zero when the
queue length is above ``activationValue`` and puts it back to zero ``cooldownPeriod`` after
the last poll that saw it above. Between one replica and ``maxReplicaCount`` the HPA decides,
every ``hpa_sync_s``: desired = ceil(messages / value) unless messages / (value * replicas) is
within ``tolerance`` of 1; then the stabilization windows (the highest recommendation of the
last ``scale_down_window_s`` caps scale-in, the lowest of ``scale_up_window_s`` caps
scale-out) and the rate policies of the ScaledObject's ``behavior``.

The model is what `mtq plan` prints; `rules_from_scaledobject` reads the same numbers from a
ScaledObject manifest so the tests simulate what is deployed. No I/O here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

# Kubernetes' defaults where a ScaledObject leaves a field out.
KEDA_POLLING_INTERVAL_S = 30
KEDA_COOLDOWN_PERIOD_S = 300
HPA_SYNC_S = 15
HPA_TOLERANCE = 0.1
HPA_SCALE_DOWN_WINDOW_S = 300


@dataclass(frozen=True)
class RatePolicy:
    """One HPAScalingPolicy: at most ``value`` pods (or percent) per ``period_s``."""

    kind: Literal["Pods", "Percent"]
    value: int
    period_s: int


DEFAULT_SCALE_UP = (RatePolicy("Pods", 4, 15), RatePolicy("Percent", 100, 15))
DEFAULT_SCALE_DOWN = (RatePolicy("Percent", 100, 15),)


@dataclass(frozen=True)
class ScalingRules:
    """The numbers of one ScaledObject with a single queue-length trigger."""

    value: float
    activation_value: float = 0.0
    min_replicas: int = 0
    max_replicas: int = 100
    polling_interval_s: int = KEDA_POLLING_INTERVAL_S
    cooldown_period_s: int = KEDA_COOLDOWN_PERIOD_S
    hpa_sync_s: int = HPA_SYNC_S
    tolerance: float = HPA_TOLERANCE
    scale_up_window_s: int = 0
    scale_down_window_s: int = HPA_SCALE_DOWN_WINDOW_S
    scale_up: tuple[RatePolicy, ...] = DEFAULT_SCALE_UP
    scale_down: tuple[RatePolicy, ...] = DEFAULT_SCALE_DOWN
    scale_up_select: str = "Max"
    scale_down_select: str = "Max"


@dataclass(frozen=True)
class BacklogCurve:
    """Queue length (ready + unacked) over time: straight lines between ``(t, messages)``."""

    points: tuple[tuple[float, float], ...]

    @classmethod
    def parse(cls, text: str) -> BacklogCurve:
        """``"0:0,60:400,600:400,900:0"`` (seconds:messages, times increasing)."""
        points = []
        for item in text.replace(" ", "").split(","):
            t, _, messages = item.partition(":")
            points.append((float(t), float(messages)))
        if not points or any(b[0] <= a[0] for a, b in itertools.pairwise(points)):
            raise ValueError(f"backlog curve {text!r}: give t:messages pairs, times increasing")
        return cls(tuple(points))

    def at(self, t: float) -> float:
        if t <= self.points[0][0]:
            return self.points[0][1]
        for (t0, m0), (t1, m1) in itertools.pairwise(self.points):
            if t <= t1:
                return m0 + (m1 - m0) * (t - t0) / (t1 - t0)
        return self.points[-1][1]


@dataclass(frozen=True)
class Drain:
    """Closed loop: a backlog that ready replicas work off at ``jobs_per_s`` each.

    A new pod counts as ready ``startup_s`` after it was created (node, image, model load).
    """

    backlog: float
    jobs_per_s: float
    startup_s: int
    arrivals_per_s: float = 0.0


@dataclass(frozen=True)
class Sample:
    t: int
    messages: float
    replicas: int
    ready: int
    active: bool
    desired: int | None = None  # the HPA's ceil(messages / value), on its sync seconds
    event: str = ""


@dataclass
class _State:
    replicas: int
    pods: list[int] = field(default_factory=list)  # creation times, oldest first
    last_active: int | None = None
    active: bool = False
    recommendations: list[tuple[int, int]] = field(default_factory=list)
    hpa_events: list[tuple[int, int]] = field(default_factory=list)  # (t, change)

    def resize(self, t: int, replicas: int) -> None:
        while len(self.pods) < replicas:
            self.pods.append(t)
        del self.pods[replicas:]  # the youngest pods go first
        self.replicas = replicas


def hpa_desired(messages: float, value: float, replicas: int, tolerance: float) -> int:
    """The HPA's raw recommendation for an AverageValue external metric."""
    ratio = messages / (value * replicas)
    if abs(ratio - 1.0) <= tolerance:
        return replicas
    return math.ceil(messages / value)


def simulate(
    rules: ScalingRules, load: BacklogCurve | Drain, duration_s: int, start_replicas: int = 0
) -> list[Sample]:
    """One sample per second from 0 to ``duration_s``; KEDA acts before the HPA in a second."""
    state = _State(replicas=0)
    state.resize(-10**9, start_replicas)  # pods that exist at t=0 are ready
    backlog = load.backlog if isinstance(load, Drain) else load.at(0)
    samples = []
    for t in range(duration_s + 1):
        if isinstance(load, BacklogCurve):
            backlog = load.at(t)
        events = []
        if t % rules.polling_interval_s == 0:
            events += _keda_poll(rules, state, t, backlog)
        desired = None
        if t % rules.hpa_sync_s == 0 and state.replicas > 0:
            desired = hpa_desired(backlog, rules.value, state.replicas, rules.tolerance)
            events += _hpa_sync(rules, state, t, desired)
        startup = load.startup_s if isinstance(load, Drain) else 0
        ready = sum(1 for created in state.pods if t - created >= startup)
        samples.append(Sample(t, backlog, state.replicas, ready, state.active, desired,
                              "; ".join(events)))
        if isinstance(load, Drain):
            backlog = max(0.0, backlog - ready * load.jobs_per_s) + load.arrivals_per_s
    return samples


def _keda_poll(rules: ScalingRules, state: _State, t: int, messages: float) -> list[str]:
    state.active = messages > rules.activation_value
    if state.active:
        state.last_active = t
        if state.replicas == 0 or state.replicas < rules.min_replicas:
            target = max(rules.min_replicas, 1)
            state.resize(t, target)
            return [f"KEDA activates: 0 -> {target}"]
        return []
    cooled = state.last_active is None or state.last_active + rules.cooldown_period_s < t
    if rules.min_replicas == 0 and state.replicas > 0 and cooled:
        before = state.replicas
        state.resize(t, 0)
        return [f"KEDA cooldown: {before} -> 0"]
    return []


def _hpa_sync(rules: ScalingRules, state: _State, t: int, desired: int) -> list[str]:
    current = state.replicas
    stabilized = _stabilize(rules, state, t, desired)
    lowest, highest = max(rules.min_replicas, 1), rules.max_replicas
    if stabilized > current:
        limit = max(_rate_limit(rules.scale_up, rules.scale_up_select, state, t, current, up=True),
                    current)
        new = min(stabilized, limit, highest)
    elif stabilized < current:
        limit = min(_rate_limit(rules.scale_down, rules.scale_down_select, state, t, current,
                                up=False), current)
        new = max(stabilized, limit, lowest)
    else:
        new = current
    new = min(max(new, lowest), highest)
    if new == current:
        return []
    state.hpa_events.append((t, new - current))
    state.resize(t, new)
    return [f"HPA: {current} -> {new}"]


def _stabilize(rules: ScalingRules, state: _State, t: int, desired: int) -> int:
    up, down = desired, desired
    for when, recommendation in state.recommendations:
        if when > t - rules.scale_up_window_s:
            up = min(up, recommendation)
        if when > t - rules.scale_down_window_s:
            down = max(down, recommendation)
    horizon = t - max(rules.scale_up_window_s, rules.scale_down_window_s)
    state.recommendations = [r for r in state.recommendations if r[0] > horizon]
    state.recommendations.append((t, desired))
    return min(max(state.replicas, up), down)


def _rate_limit(
    policies: Sequence[RatePolicy], select: str, state: _State, t: int, current: int, up: bool
) -> int:
    if select == "Disabled" or not policies:
        return current
    proposals = []
    for policy in policies:
        recent = [change for when, change in state.hpa_events if when > t - policy.period_s]
        start = current - sum(recent)  # replicas at the start of the period
        if policy.kind == "Pods":
            proposals.append(start + policy.value if up else start - policy.value)
        elif up:
            proposals.append(math.ceil(start * (1 + policy.value / 100)))
        else:
            proposals.append(int(start * (1 - policy.value / 100)))
    # "Max" picks the policy that allows the biggest change, in either direction.
    widest = max if up else min
    return widest(proposals) if select == "Max" else (min if up else max)(proposals)


def rules_from_scaledobject(manifest: Mapping[str, Any]) -> ScalingRules:
    """The ScalingRules of a ScaledObject (a parsed manifest) with one queue-length trigger."""
    spec = manifest["spec"]
    (trigger,) = spec["triggers"]
    behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get(
        "behavior", {}
    )
    up, down = behavior.get("scaleUp", {}), behavior.get("scaleDown", {})
    return ScalingRules(
        value=float(trigger["metadata"]["value"]),
        activation_value=float(trigger["metadata"].get("activationValue", 0)),
        min_replicas=int(spec.get("minReplicaCount", 0)),
        max_replicas=int(spec.get("maxReplicaCount", 100)),
        polling_interval_s=int(spec.get("pollingInterval", KEDA_POLLING_INTERVAL_S)),
        cooldown_period_s=int(spec.get("cooldownPeriod", KEDA_COOLDOWN_PERIOD_S)),
        tolerance=float(down.get("tolerance", HPA_TOLERANCE)),
        scale_up_window_s=int(up.get("stabilizationWindowSeconds", 0)),
        scale_down_window_s=int(down.get("stabilizationWindowSeconds", HPA_SCALE_DOWN_WINDOW_S)),
        scale_up=_policies(up, DEFAULT_SCALE_UP),
        scale_down=_policies(down, DEFAULT_SCALE_DOWN),
        scale_up_select=str(up.get("selectPolicy", "Max")),
        scale_down_select=str(down.get("selectPolicy", "Max")),
    )


def _policies(rules: Mapping[str, Any], default: tuple[RatePolicy, ...]) -> tuple[RatePolicy, ...]:
    if "policies" not in rules:
        return default
    return tuple(
        RatePolicy(p["type"], int(p["value"]), int(p["periodSeconds"])) for p in rules["policies"]
    )
