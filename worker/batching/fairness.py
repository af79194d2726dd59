"""Who goes first when batches are formed: lanes, then tenants. Pure: no clock, no I/O.

Two rules, both applied by the scheduler at every batch:

- **Lanes** (:class:`LanePolicy`): a batch is anchored on the interactive lane while it has
  waiting segments, except that the bulk lane anchors at least one batch in every
  ``bulk_every`` while it waits. Bulk therefore keeps at least ``1 / bulk_every`` of the
  batches under any interactive load (the documented starvation bound), and an interactive
  segment waits at most for the batch running now plus one bulk batch.
- **Tenants** (:class:`TenantShares`): start-time fair queuing on source tokens. Each tenant
  has a virtual time that advances by ``tokens / weight`` when its segments are batched; the
  tenant furthest behind is served first. A tenant that was idle restarts at the system's
  virtual time, so idleness earns no credit to burst with later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum

DEFAULT_TENANT = ""


class Lane(IntEnum):
    """Lower value is served first."""

    INTERACTIVE = 0
    BULK = 1


class LanePolicy:
    """Interactive first; bulk anchors one batch in every ``bulk_every`` while it waits."""

    def __init__(self, bulk_every: int) -> None:
        if bulk_every < 1:
            raise ValueError("bulk_every must be at least 1")
        self.bulk_every = bulk_every
        self._interactive_in_a_row = 0

    def choose(self, waiting: Iterable[Lane]) -> Lane | None:
        """The lane that anchors the next batch, among those with waiting segments."""
        lanes = set(waiting)
        if not lanes:
            return None
        if Lane.INTERACTIVE not in lanes:
            return Lane.BULK
        if Lane.BULK in lanes and self._interactive_in_a_row >= self.bulk_every - 1:
            return Lane.BULK
        return Lane.INTERACTIVE

    def record(self, anchored: Lane, bulk_waiting: bool) -> None:
        """Count interactive batches that passed over waiting bulk work."""
        if anchored is Lane.BULK or not bulk_waiting:
            self._interactive_in_a_row = 0
        else:
            self._interactive_in_a_row += 1


class TenantShares:
    """Weighted fair shares of source tokens between tenants."""

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        self._weights = dict(weights or {})
        for tenant, weight in self._weights.items():
            if weight <= 0:
                raise ValueError(f"tenant {tenant!r}: weight must be positive")
        self._finish: dict[str, float] = {}
        self._system = 0.0

    def weight(self, tenant: str) -> float:
        return self._weights.get(tenant, 1.0)

    def start(self, tenant: str) -> float:
        """The tenant's virtual time if it were served now."""
        return max(self._finish.get(tenant, 0.0), self._system)

    def projected(self, tenant: str, pending_tokens: int) -> float:
        """Virtual time after ``pending_tokens`` more tokens of this tenant are served."""
        return self.start(tenant) + pending_tokens / self.weight(tenant)

    def first(self, tenants: Iterable[str], pending: Mapping[str, int] | None = None) -> str:
        """The tenant furthest behind its share (ties: the name, for determinism)."""
        pending = pending or {}
        return min(tenants, key=lambda t: (self.projected(t, pending.get(t, 0)), t))

    def charge(self, served: Mapping[str, int]) -> None:
        """Record the tokens of a formed batch, per tenant, and advance the system time."""
        starts = [self.start(tenant) for tenant in served]
        for tenant, tokens in served.items():
            self._finish[tenant] = self.projected(tenant, tokens)
        if starts:
            self._system = max(self._system, min(starts))
        # Tenants at or behind the system time would restart there anyway: forget them, so
        # the table stays as small as the set of tenants with recent work.
        for tenant in [t for t, finish in self._finish.items() if finish <= self._system]:
            del self._finish[tenant]
