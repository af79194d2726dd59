"""Lane priority with a starvation bound, and weighted tenant shares (pure)."""

from __future__ import annotations

import pytest

from worker.batching.fairness import Lane, LanePolicy, TenantShares


def run_lanes(policy: LanePolicy, batches: int, bulk_waiting: bool = True) -> list[Lane]:
    chosen = []
    for _ in range(batches):
        waiting = [Lane.INTERACTIVE, Lane.BULK] if bulk_waiting else [Lane.INTERACTIVE]
        lane = policy.choose(waiting)
        assert lane is not None
        policy.record(lane, bulk_waiting)
        chosen.append(lane)
    return chosen


def test_interactive_anchors_while_bulk_is_not_waiting() -> None:
    assert set(run_lanes(LanePolicy(4), 20, bulk_waiting=False)) == {Lane.INTERACTIVE}


def test_bulk_gets_one_batch_in_every_bulk_every() -> None:
    chosen = run_lanes(LanePolicy(4), 40)
    assert chosen.count(Lane.BULK) == 10
    # never more than bulk_every - 1 interactive batches in a row while bulk waits
    run = longest = 0
    for lane in chosen:
        run = run + 1 if lane is Lane.INTERACTIVE else 0
        longest = max(longest, run)
    assert longest == 3


def test_bulk_only_and_nothing_waiting() -> None:
    policy = LanePolicy(4)
    assert policy.choose([Lane.BULK]) is Lane.BULK
    assert policy.choose([]) is None


def test_bulk_every_one_means_strict_alternation_is_not_priority() -> None:
    chosen = run_lanes(LanePolicy(1), 6)
    assert chosen == [Lane.BULK] * 6
    with pytest.raises(ValueError):
        LanePolicy(0)


def serve(shares: TenantShares, backlog: dict[str, int], batch_tokens: int, rounds: int
          ) -> dict[str, int]:
    """Each round one tenant (furthest behind) gets a batch of its tokens."""
    got = dict.fromkeys(backlog, 0)
    for _ in range(rounds):
        active = [t for t, left in backlog.items() if left > 0]
        if not active:
            break
        tenant = shares.first(active)
        tokens = min(batch_tokens, backlog[tenant])
        backlog[tenant] -= tokens
        got[tenant] += tokens
        shares.charge({tenant: tokens})
    return got


def test_tenants_with_very_different_backlogs_share_equally_while_both_wait() -> None:
    got = serve(TenantShares(), {"big": 1_000_000, "small": 5_000}, 100, rounds=100)
    assert got == {"big": 5_000, "small": 5_000}


def test_weights_set_the_proportion() -> None:
    got = serve(TenantShares({"gold": 3.0}), {"gold": 10**6, "std": 10**6}, 100, rounds=400)
    assert got["gold"] == 3 * got["std"]


def test_an_idle_tenant_earns_no_credit() -> None:
    shares = TenantShares()
    serve(shares, {"a": 10_000}, 100, rounds=100)  # "b" idle meanwhile
    got = serve(shares, {"a": 10**6, "b": 10**6}, 100, rounds=10)
    assert got == {"a": 500, "b": 500}


def test_first_counts_pending_tokens_and_breaks_ties_by_name() -> None:
    shares = TenantShares()
    assert shares.first(["b", "a"]) == "a"
    assert shares.first(["a", "b"], pending={"a": 10}) == "b"
    with pytest.raises(ValueError):
        TenantShares({"x": 0})
