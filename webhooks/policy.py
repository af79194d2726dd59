"""Pure retry policy: what a response means and how long to wait. No I/O, no clock reads.

Two levels of retry:

- quick, in-process retries (a few hundred milliseconds apart) for blips: connection refused or
  reset and 5xx answers without ``Retry-After``;
- the durable ladder (``MTQ_WEBHOOK_RETRY_SCHEDULE_S``) in RabbitMQ TTL queues for everything
  else that is not 2xx. After attempt ``n`` fails the event waits ``schedule[n-1]``; after the
  last step it is parked.

A ``Retry-After`` (429/502/503/504 only) that is longer than the next ladder step moves the
event to the first ladder step at least that long; the header is capped at the longest step.
Receivers send odd values: only ASCII delta-seconds and HTTP dates are read, anything else is
ignored (the ladder decides alone), so every answer is one counted attempt with a bounded wait.
"""

from __future__ import annotations

import email.utils
import enum
from collections.abc import Sequence
from dataclasses import dataclass

RETRY_AFTER_STATUSES = frozenset({429, 502, 503, 504})
QUICK_RETRY_STATUSES = frozenset({408, 500, 502, 503, 504})


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    QUICK_RETRY = "quick_retry"  # try again in-process, then the ladder
    LADDER = "ladder"  # straight to the durable ladder
    GONE = "gone"  # 410: the receiver asked us to stop; park


def classify(status: int | None, *, timed_out: bool = False, retry_after: float | None = None
             ) -> Verdict:
    """What one HTTP attempt means. Only 2xx is success; redirects are failures."""
    if status is None:
        # A timeout already cost a full timeout; hammering a slow endpoint again won't help.
        return Verdict.LADDER if timed_out else Verdict.QUICK_RETRY
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status == 410:
        return Verdict.GONE
    if status in QUICK_RETRY_STATUSES and retry_after is None:
        return Verdict.QUICK_RETRY
    return Verdict.LADDER


def parse_retry_after(value: str | None, *, now: float, cap_s: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), in
    ``[0, cap_s]``; a date in the past is 0, a huge value or a far date ``cap_s``.

    Returns ``None`` when the header is absent or unreadable (then the ladder decides alone):
    a sign, a fraction, non-ASCII digits, garbage. Never raises.
    """
    if value is None:
        return None
    text = value.strip()
    if not text.isascii():
        return None  # both forms are ASCII; "²" and "①" pass isdigit() but float() refuses
    if text.isdigit():
        return min(float(text), cap_s)  # ASCII digits always read; a huge one is inf, capped
    try:
        when = email.utils.parsedate_to_datetime(text)
        seconds = when.timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None  # HTTP dates are always GMT; a zone-less date is not one
    return min(max(0.0, seconds), cap_s)


def retry_delay(
    attempt: int, schedule: Sequence[int], retry_after_s: float | None = None
) -> int | None:
    """Seconds to wait after failed attempt ``attempt`` (1-based), or ``None``: give up.

    The result is always one of the ladder steps, since only those queues exist.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be at least 1, got {attempt}")
    if attempt > len(schedule):
        return None
    step = schedule[attempt - 1]
    if retry_after_s is None or retry_after_s <= step:
        return step
    longer = [candidate for candidate in schedule if candidate >= retry_after_s]
    return min(longer) if longer else max(schedule)


def defer_delay(schedule: Sequence[int], wait_s: float = 0.0) -> int:
    """The ladder step for an event deferred without an attempt: the shortest step that
    outlasts ``wait_s`` (a known pause), the longest when none does."""
    longer = [step for step in schedule if step >= wait_s]
    return min(longer) if longer else max(schedule)


@dataclass(frozen=True)
class Ack:
    """Delivered: ack the original."""


@dataclass(frozen=True)
class Retry:
    """Publish to the ``delay_s`` retry queue with ``attempt`` recorded, then ack."""

    delay_s: int
    attempt: int


@dataclass(frozen=True)
class Park:
    """Publish to the parked queue with ``reason``, then ack."""

    reason: str
    attempt: int


Decision = Ack | Retry | Park


def decide(verdict: Verdict, attempt: int, schedule: Sequence[int],
           retry_after_s: float | None = None) -> Decision:
    """The fate of an event after its attempt number ``attempt`` ended with ``verdict``."""
    if verdict is Verdict.DELIVERED:
        return Ack()
    if verdict is Verdict.GONE:
        return Park(reason="gone", attempt=attempt)
    delay = retry_delay(attempt, schedule, retry_after_s)
    if delay is None:
        return Park(reason="retries_exhausted", attempt=attempt)
    return Retry(delay_s=delay, attempt=attempt)
