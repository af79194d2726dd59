"""In-flight dedup: identical segments waiting or running at the same time are computed once.

The first holder of a segment key owns its *flight* and is the only one that puts the segment
in the scheduler; later holders (another segment of the same job, or of another job) attach
as followers. When the owner's result comes back, every holder receives it. When a job leaves
(failed, handed back, dropped with its connection), its flights move to a follower of another
job that is still here, which enqueues the segment itself: nobody waits on a computation that
will never come. Lives on the event loop only; pure bookkeeping, no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from mtq.core.contract import DecodeOptions

Holder = tuple[Hashable, int]  # (job key, segment index)


class Indexed(Protocol):
    """A work item as the scheduler takes it; only its segment index matters here."""

    @property
    def index(self) -> int: ...


Item = TypeVar("Item", bound=Indexed)


@dataclass
class _Flight(Generic[Item]):
    key: tuple[Hashable, str]
    options: DecodeOptions
    item: Item  # the owner's work item; a new owner's item differs only in its index
    owner: Holder
    followers: list[Holder] = field(default_factory=list)


@dataclass(frozen=True)
class Rehomed(Generic[Item]):
    """Flights whose owner left: ``job_key`` now owns them and must enqueue ``work``."""

    job_key: Hashable
    options: DecodeOptions
    work: list[Item]


FlightKey = tuple[Hashable, str]  # (group, segment key)


class InFlightSegments(Generic[Item]):
    """Flights by segment key within a *group*: only holders of one group share a flight.

    The worker's group is (lane, tenant): a job never waits for its segment behind the
    backlog of another lane or tenant that happens to hold the same text.
    """

    def __init__(self) -> None:
        self._by_key: dict[FlightKey, _Flight[Item]] = {}
        self._by_owner: dict[Holder, _Flight[Item]] = {}
        self._by_job: dict[Hashable, set[FlightKey]] = {}  # job key -> flights it holds
        self.saved = 0  # segments that joined a flight instead of being computed again

    def __len__(self) -> int:
        return len(self._by_key)

    def claim(
        self, job_key: Hashable, options: DecodeOptions, work: Sequence[Item],
        keys: Sequence[str], group: Hashable = None,
    ) -> list[Item]:
        """Attach ``work`` to the flights in progress; return the items to enqueue.

        ``keys[index]`` is the cache key of segment ``index`` of the job; since keys include
        the decode options, every holder of a flight decodes with the same options.
        """
        fresh: list[Item] = []
        held = self._by_job.setdefault(job_key, set())
        for item in work:
            index = item.index
            key = (group, keys[index])
            held.add(key)
            flight = self._by_key.get(key)
            if flight is not None:
                flight.followers.append((job_key, index))
                self.saved += 1
                continue
            flight = _Flight(key, options, item, (job_key, index))
            self._by_key[key] = flight
            self._by_owner[flight.owner] = flight
            fresh.append(item)
        if not held:
            del self._by_job[job_key]
        return fresh

    def finish(self, job_key: Hashable, index: int) -> list[Holder]:
        """The holders that receive the result of segment ``index`` of ``job_key``."""
        flight = self._by_owner.pop((job_key, index), None)
        if flight is None:  # not deduped, or its flight moved on after its job left
            return [(job_key, index)]
        del self._by_key[flight.key]
        holders = [flight.owner, *flight.followers]
        for holder_job, _ in holders:
            keys = self._by_job.get(holder_job)
            if keys is not None:
                keys.discard(flight.key)
                if not keys:
                    del self._by_job[holder_job]
        return holders

    def release(
        self, job_key: Hashable, reindex: Callable[[Item, int], Item] | None = None
    ) -> list[Rehomed[Item]]:
        """``job_key`` left: drop its holds and hand the flights it owned to another job.

        ``reindex(item, index)`` is the work item for segment ``index`` of the new owner
        (by default the dataclass ``item`` with its ``index`` replaced).
        """
        moved: dict[Hashable, Rehomed[Item]] = {}
        for key in self._by_job.pop(job_key, set()):
            flight = self._by_key[key]
            flight.followers = [h for h in flight.followers if h[0] != job_key]
            if flight.owner[0] == job_key:
                self._rehome(flight, moved, reindex or _replace_index)
        return _sorted(moved)

    def cancel(
        self, job_key: Hashable, dropped: Collection[int], waiting: Callable[[Holder], bool],
        reindex: Callable[[Item, int], Item] | None = None,
    ) -> tuple[list[int], list[Rehomed[Item]]]:
        """``job_key`` was cancelled and its ``dropped`` segments taken from the scheduler.

        It lets go of every segment that will not be computed for it: flights it owned among
        ``dropped`` move to another holder (as on :meth:`release`), and it stops following
        flights whose owner's segment is still ``waiting`` for a batch. Flights already in a
        batch keep it. Returns the job's segment indexes no longer coming, and moved flights.
        """
        gone = set(dropped)
        moved: dict[Hashable, Rehomed[Item]] = {}
        held = self._by_job.get(job_key, set())
        for key in list(held):
            flight = self._by_key[key]
            mine = [h for h in flight.followers if h[0] == job_key]
            if flight.owner[0] == job_key:
                if flight.owner[1] not in dropped:
                    continue  # in a batch: it finishes for every holder, this job included
            elif not waiting(flight.owner):
                continue
            held.discard(key)
            gone.update(index for _, index in mine)
            flight.followers = [h for h in flight.followers if h[0] != job_key]
            if flight.owner[0] == job_key:
                self._rehome(flight, moved, reindex or _replace_index)
        if not held:
            self._by_job.pop(job_key, None)
        return sorted(gone), _sorted(moved)

    def _rehome(self, flight: _Flight[Item], moved: dict[Hashable, Rehomed[Item]],
                reindex: Callable[[Item, int], Item]) -> None:
        """The owner of ``flight`` lets go: its first follower owns and enqueues it, if any."""
        del self._by_owner[flight.owner]
        if not flight.followers:
            del self._by_key[flight.key]
            return
        flight.owner = flight.followers.pop(0)
        self._by_owner[flight.owner] = flight
        new_job, index = flight.owner
        target = moved.setdefault(new_job, Rehomed(new_job, flight.options, []))
        flight.item = reindex(flight.item, index)
        target.work.append(flight.item)


def _sorted(moved: dict[Hashable, Rehomed[Item]]) -> list[Rehomed[Item]]:
    for target in moved.values():
        target.work.sort(key=lambda item: item.index)
    return list(moved.values())


def _replace_index(item: Item, index: int) -> Item:
    return dataclasses.replace(item, index=index)  # type: ignore[type-var]
