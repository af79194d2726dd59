"""Several result events in one message on ``mtq.results``: the batch frame.

A message per event costs the broker a durable quorum-queue write, a confirm, a delivery and
an ack, and costs the worker and the dispatcher a message each; for one-segment jobs that is
most of the pipeline's CPU. So the worker puts the events that are confirmed together (a
micro-batch finishes many jobs at once) into one message, and the dispatcher takes it apart.

The frame, additive to the single-event message of :mod:`mtq.core.events`:

- header ``x-mtq-events``: an array with one table per event: that event's own headers (the
  ones a single-event message carries) plus ``x-mtq-length``, its body's size in bytes;
- body: a JSON array of the events, ``[`` + the bodies joined by ``,`` + ``]``, each body the
  exact bytes that are signed and POSTed, so it is sliced out by length, never re-encoded.

A message without ``x-mtq-events`` is one event, as in v1. One event is never framed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mtq.core.headers import EVENTS_HEADER, LENGTH_HEADER

Part = tuple[dict[str, Any], bytes]  # one event: its headers and its body


class InvalidBatch(ValueError):
    """A message says it holds several events, but its frame does not add up."""


def is_batch(headers: Mapping[str, Any] | None) -> bool:
    return headers is not None and EVENTS_HEADER in headers


def pack(parts: Sequence[tuple[Mapping[str, Any], bytes]]) -> Part:
    """The headers and body of one message holding ``parts`` (two or more)."""
    if len(parts) < 2:
        raise ValueError("a batch holds two or more events; publish one event as it is")
    tables = [{**headers, LENGTH_HEADER: len(body)} for headers, body in parts]
    body = b"[" + b",".join(body for _, body in parts) + b"]"
    return {EVENTS_HEADER: tables}, body


def events(headers: Mapping[str, Any] | None, body: bytes) -> list[Part]:
    """The events of any message on ``mtq.results``: a batch's parts, or the one event."""
    if is_batch(headers):
        assert headers is not None
        return unpack(headers, body)
    return [(dict(headers or {}), body)]


def unpack(headers: Mapping[str, Any], body: bytes) -> list[Part]:
    """The events of a batch message, each with its own headers and exact body bytes."""
    tables = headers.get(EVENTS_HEADER)
    if not isinstance(tables, list) or len(tables) < 2:
        raise InvalidBatch(f"{EVENTS_HEADER} is not a list of two or more event headers")
    parts: list[Part] = []
    start = 1
    for index, table in enumerate(tables):
        if not isinstance(table, dict):
            raise InvalidBatch(f"{EVENTS_HEADER}[{index}] is not a table")
        length = table.get(LENGTH_HEADER)
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise InvalidBatch(f"{EVENTS_HEADER}[{index}] has no positive {LENGTH_HEADER}")
        end = start + length
        closer = b"]" if index == len(tables) - 1 else b","
        if body[end:end + 1] != closer:
            raise InvalidBatch(f"event {index}'s {LENGTH_HEADER} does not match the body")
        event_headers = {key: value for key, value in table.items() if key != LENGTH_HEADER}
        parts.append((event_headers, body[start:end]))
        start = end + 1
    if body[:1] != b"[" or start != len(body):
        raise InvalidBatch("the body is not the events' bodies as one JSON array")
    return parts
