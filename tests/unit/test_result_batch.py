"""The batch frame of ``mtq.results`` (mtq/core/result_batch.py): exact bytes out, errors named."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mtq.core.headers import EVENTS_HEADER, LENGTH_HEADER
from mtq.core.result_batch import InvalidBatch, events, is_batch, pack, unpack

# Bodies with the frame's own delimiters inside: slicing by length must not care.
PARTS = [
    ({"x-mtq-job-id": "a", "x-mtq-delivery-count": 1}, b'{"t":"[x],y"}'),
    ({"x-mtq-job-id": "b"}, '{"t":"ü]"}'.encode()),
    ({"x-mtq-job-id": "c"}, b'{"t":","}'),
]


def test_pack_then_unpack_gives_every_event_its_headers_and_exact_bytes() -> None:
    headers, body = pack(PARTS)
    assert is_batch(headers)
    assert [table[LENGTH_HEADER] for table in headers[EVENTS_HEADER]] == [13, 11, 9]
    assert json.loads(body) == [json.loads(b) for _, b in PARTS]  # readable as a JSON array
    assert unpack(headers, body) == [(dict(h), b) for h, b in PARTS]


def test_a_single_event_is_never_framed() -> None:
    with pytest.raises(ValueError, match="two or more"):
        pack(PARTS[:1])
    assert not is_batch(dict(PARTS[0][0]))
    assert not is_batch(None)


@pytest.mark.parametrize(("change", "message"), [
    (lambda h, b: ({EVENTS_HEADER: "x"}, b), "not a list"),
    (lambda h, b: ({EVENTS_HEADER: h[EVENTS_HEADER][:1]}, b), "two or more"),
    (lambda h, b: ({EVENTS_HEADER: [h[EVENTS_HEADER][0], "x", h[EVENTS_HEADER][2]]}, b),
     "not a table"),
    (lambda h, b: (h, b[:-2] + b"]"), "does not match"),
    (lambda h, b: (h, b + b" "), "not the events' bodies"),
    (lambda h, b: (h, b"{" + b[1:]), "not the events' bodies"),
])
def test_a_frame_that_does_not_add_up_is_refused(
    change: Callable[[dict[str, Any], bytes], tuple[dict[str, Any], bytes]], message: str
) -> None:
    headers, body = pack(PARTS)
    bad_headers, bad_body = change(headers, body)
    with pytest.raises(InvalidBatch, match=message):
        unpack(bad_headers, bad_body)


@pytest.mark.parametrize("length", [0, -1, True, "13", None])
def test_a_length_must_be_a_positive_integer(length: object) -> None:
    headers, body = pack(PARTS)
    headers[EVENTS_HEADER][0][LENGTH_HEADER] = length
    with pytest.raises(InvalidBatch, match=LENGTH_HEADER):
        unpack(headers, body)


def test_events_reads_both_kinds_of_message() -> None:
    headers, body = pack(PARTS)
    assert events(headers, body) == unpack(headers, body)
    assert events(dict(PARTS[0][0]), PARTS[0][1]) == [(dict(PARTS[0][0]), PARTS[0][1])]
