"""Micro-batch formation across every in-flight job. Pure logic: no torch, no AMQP.

Segments of all jobs wait in one pool per decode setting (beam size, max new tokens), since
only segments with equal settings can share a ``generate`` call. A batch is anchored on the
oldest waiting segment of the lane and tenant whose turn it is (``worker/batching/fairness.py``: the
interactive lane first with a bound that keeps bulk moving, then weighted fair shares of
tokens between tenants) and grown with the segments nearest in length (``worker/batching/pools.py``,
so little compute is spent on padding) until the token budget is reached.

Cost of a batch = segments × longest source length × beam size: what beam search holds in
memory and computes per step is proportional to it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from worker.batching.fairness import DEFAULT_TENANT, Lane, LanePolicy, TenantShares
from worker.batching.items import Batch, Segment, WorkItem, batch_cost
from worker.batching.pools import BatchLimits, Pool


class Scheduler:
    """Forms batches. Not thread-safe: :class:`BatchQueue` guards it for the worker.

    Which batch comes next: among the pools that are due (full, or their oldest segment has
    waited ``max_wait_s``), the lane policy picks the lane (interactive first, bulk at least one
    batch in ``bulk_every``), the tenant shares pick the tenant furthest behind in that lane,
    and the batch is anchored on that tenant's oldest segment there (``pools.py`` grows it).
    With one lane and one tenant that is simply the oldest waiting segment.
    """

    def __init__(
        self, token_budget: int, max_batch_segments: int, max_wait_s: float,
        min_token_budget: int = 256, max_padding: float = 1.0, padding_free_segments: int = 8,
        bulk_every: int = 4, tenant_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.token_budget = token_budget
        self.max_batch_segments = max_batch_segments
        self.max_wait_s = max_wait_s
        self.min_token_budget = min(min_token_budget, token_budget)
        self.max_padding = max_padding
        self.padding_free_segments = padding_free_segments
        self.lanes = LanePolicy(bulk_every)
        self.shares = TenantShares(tenant_weights)
        self._pools: dict[DecodeOptions, Pool] = {}
        self._arrivals = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Scheduler:
        """The worker's scheduler (the benchmark builds it here too, to measure the same)."""
        return cls(
            token_budget=settings.batch_tokens,
            max_batch_segments=settings.max_batch_segments,
            max_wait_s=settings.batch_max_wait_ms / 1000,
            max_padding=settings.batch_max_padding,
            bulk_every=settings.bulk_every,
            tenant_weights=settings.tenant_weights_map(),
        )

    # -- input ----------------------------------------------------------------------------

    def add(
        self, job_key: Hashable, options: DecodeOptions, items: Sequence[WorkItem], now: float,
        *, lane: Lane = Lane.BULK, tenant: str = DEFAULT_TENANT,
    ) -> None:
        """Queue the segments of one job that need the model."""
        pool = self._pools.setdefault(options, Pool())
        for item in items:
            self._arrivals += 1
            pool.add(Segment(job_key, item.index, tuple(item.tokens), self._arrivals, now,
                             lane, tenant, tuple(item.prefix), align=item.align))

    def cancel(self, job_key: Hashable) -> int:
        """Drop every waiting segment of a job (it failed or is being requeued)."""
        return len(self.take_waiting(job_key))

    def take_waiting(self, job_key: Hashable) -> list[int]:
        """Drop every waiting segment of a job; the indexes of those dropped (a cancel: what is
        already in a batch finishes, the rest never reaches one)."""
        dropped: list[int] = []
        for options, pool in list(self._pools.items()):
            dropped += (segment.index for segment in pool.remove_job(job_key))
            if not pool:
                del self._pools[options]
        return sorted(dropped)

    def is_waiting(self, job_key: Hashable, index: int) -> bool:
        """Whether segment ``index`` of the job still waits for a batch."""
        return any(s.job_key == job_key and s.index == index
                   for pool in self._pools.values() for s in pool)

    def withdraw_unstarted(self, job_key: Hashable, expected: int) -> bool:
        """Remove a job's segments only if all ``expected`` of them are still waiting."""
        waiting = sum(1 for pool in self._pools.values() for s in pool if s.job_key == job_key)
        if waiting != expected:
            return False
        self.cancel(job_key)
        return True

    @property
    def waiting(self) -> int:
        return sum(len(pool) for pool in self._pools.values())

    def waiting_jobs(self) -> set[Hashable]:
        return {s.job_key for pool in self._pools.values() for s in pool}

    # -- output ---------------------------------------------------------------------------

    def seconds_until_ready(self, now: float) -> float | None:
        """0 when a batch should be formed now, else how long to wait; None when idle."""
        if not self._pools:
            return None
        best: float | None = None
        for options, pool in self._pools.items():
            if self._pool_is_full(options, pool):
                return 0.0
            wait = max(0.0, pool.oldest().enqueued_at + self.max_wait_s - now)
            best = wait if best is None else min(best, wait)
        return best

    def next_batch(self, now: float, *, force: bool = False) -> Batch | None:
        """The next batch, or None while no pool is full and no segment has waited long enough.

        ``force`` skips the wait (used when draining).
        """
        ready = [
            (options, pool) for options, pool in self._pools.items()
            if force or pool.oldest().enqueued_at + self.max_wait_s <= now
            or self._pool_is_full(options, pool)
        ]
        if not ready:
            return None
        waiting_lanes = set().union(*(pool.lanes() for _, pool in ready))
        lane = self.lanes.choose(waiting_lanes)
        assert lane is not None
        tenant = self.shares.first(set().union(*(pool.tenants(lane) for _, pool in ready)))
        anchor = (lane, tenant)
        options, pool = min(
            ((o, p) for o, p in ready if p.oldest_in(anchor) is not None),
            key=lambda item: item[1].oldest_in(anchor).arrival,  # type: ignore[union-attr]
        )
        limits = BatchLimits(self.token_budget, self.max_batch_segments, options.beam_size,
                             self.max_padding, self.padding_free_segments)
        segments = pool.build(anchor, limits, self.shares)
        if not pool:
            del self._pools[options]
        self.lanes.record(lane, bulk_waiting=Lane.BULK in waiting_lanes)
        served: dict[str, int] = {}
        for segment in segments:
            served[segment.tenant] = served.get(segment.tenant, 0) + segment.length
        self.shares.charge(served)
        return Batch(options, tuple(segments))

    def shrink_budget(self, factor: float = 0.75) -> int:
        """Lower the token budget after the device ran out of memory; returns the new budget."""
        self.token_budget = max(self.min_token_budget, int(self.token_budget * factor))
        return self.token_budget

    def _pool_is_full(self, options: DecodeOptions, pool: Pool) -> bool:
        if len(pool) >= self.max_batch_segments:
            return True
        return batch_cost(len(pool), pool.longest(), options.beam_size) >= self.token_budget
