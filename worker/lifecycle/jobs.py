"""One in-flight job: which of its segments are done. Lives on the event loop only.

The job table (``jobtable.py``) holds these; intake creates them, completion answers them,
recovery and drain hand them back.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from mtq.core.contract import Job
from mtq.core.events import JobStats
from worker.batching.items import WorkItem
from worker.broker.message import Delivery
from worker.vouch.retrying import RetryState

_sequence = itertools.count(1)


@dataclass
class InFlightJob:
    """One delivery of one job. The same job id delivered twice is two entries."""

    job: Job
    delivery: Delivery
    published_at: float | None  # wall clock, from the message timestamp when the client set it
    received_wall: float = field(default_factory=time.time)
    received_mono: float = field(default_factory=time.monotonic)
    key: str = ""
    outputs: list[list[int] | None] = field(default_factory=list)
    # Segments answered without the model (blank ones today), by index.
    translated: dict[int, str] = field(default_factory=dict)
    remaining: int = 0
    first_started: float | None = None
    last_finished: float | None = None
    failed: bool = False
    # A cancel came first (lifecycle/control/cancel.py): it ends with job.cancelled.
    cancelled: bool = False
    # Its delivery died with a connection; a redelivery of the same body is adopted
    # (worker/lifecycle/recovery.py).
    orphaned: bool = False
    # Its segments' translation-cache keys, and how many were answered from the cache.
    cache_keys: tuple[str, ...] = ()
    cached: int = 0
    # Work held back while the job waits in the quarantine.
    held: list[WorkItem] = field(default_factory=list)
    # Per segment: the confidence of its output and whether decoding reached end-of-sentence
    # (mtq/core/vouch); a blank segment's are 1.0 and True, a cached one's those stored with it.
    confidence: list[float] = field(default_factory=list)
    ended: list[bool] = field(default_factory=list)
    # options.on_suspect "retry": every non-blank segment's work item (intake), and the
    # retries out once the first outputs were reviewed (worker/vouch/retrying.py).
    retry_items: dict[int, WorkItem] = field(default_factory=dict)
    retry: RetryState | None = None
    # Markup segments: (source token ids, output attention) by index, for restoration.
    attention: dict[int, tuple[tuple[int, ...], list[list[float]]]] = field(
        default_factory=dict)

    def __post_init__(self) -> None:
        self.key = f"{self.job.job_id}#{next(_sequence)}"
        self.outputs = [None] * len(self.job.segments)
        self.confidence = [1.0] * len(self.job.segments)
        self.ended = [True] * len(self.job.segments)

    @property
    def started(self) -> bool:
        return self.first_started is not None

    @property
    def fingerprint(self) -> str:
        return self.delivery.fingerprint

    def record(
        self, index: int, output: list[int], started: float, finished: float, *,
        confidence: float = 1.0, ended: bool = True,
    ) -> bool:
        """Store one segment's output; True when that completed the job."""
        if self.outputs[index] is None:
            self.outputs[index] = output
            self.confidence[index], self.ended[index] = confidence, ended
            self.remaining -= 1
        self.first_started = started if self.first_started is None else min(
            self.first_started, started
        )
        self.last_finished = finished if self.last_finished is None else max(
            self.last_finished, finished
        )
        return self.remaining == 0

    def stats(self) -> JobStats:
        waited_before_receipt = 0.0
        if self.published_at is not None:
            waited_before_receipt = max(0.0, self.received_wall - self.published_at)
        started = self.first_started if self.first_started is not None else time.monotonic()
        finished = self.last_finished if self.last_finished is not None else started
        return JobStats(
            segments=len(self.job.segments),
            queue_ms=int(1000 * (waited_before_receipt + max(0.0, started - self.received_mono))),
            compute_ms=int(1000 * max(0.0, finished - started)),
            cached_segments=self.cached,
        )
