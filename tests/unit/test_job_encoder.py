"""Job tokenizing (worker/compute/tokenizing.py): small jobs together per loop turn (same ids,
one call per encoder, a failure only for the job at fault), large jobs in the pool."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from worker.compute.tokenizing import INLINE_SEGMENTS, JobEncoder


@pytest.fixture
def tokens() -> Iterator[JobEncoder]:
    with ThreadPoolExecutor(1, thread_name_prefix="pool") as pool:
        yield JobEncoder(pool)


@dataclass(eq=False)
class CountingEncoder:
    """Ids from characters; refuses a text containing "boom"; counts its calls."""

    offset: int
    calls: list[int] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        self.calls.append(len(texts))
        self.threads.append(threading.current_thread().name)
        if any("boom" in text for text in texts):
            raise ValueError("cannot tokenize")
        return [[self.offset + ord(c) for c in text] for text in texts]

    def __hash__(self) -> int:
        return id(self)


async def test_texts_of_one_turn_are_tokenized_in_one_call_per_encoder(tokens: JobEncoder
                                                                       ) -> None:
    inline, en, fr = tokens, CountingEncoder(0), CountingEncoder(1000)
    jobs = [(en, ["ab", "c"]), (fr, ["d"]), (en, ["e"]), (fr, ["fg", "h"])]
    results = await asyncio.gather(*(inline.encode(encoder, texts) for encoder, texts in jobs))
    assert results == [encoder.encode(texts) for encoder, texts in jobs]  # as one by one
    assert en.calls[0] == 3 and fr.calls[0] == 3  # then the reference calls above


async def test_a_failing_text_fails_only_its_own_job(tokens: JobEncoder) -> None:
    inline, en = tokens, CountingEncoder(0)
    good, bad, also_good = await asyncio.gather(
        inline.encode(en, ["ok"]), inline.encode(en, ["a", "boom"]), inline.encode(en, ["fine"]),
        return_exceptions=True,
    )
    assert good == [[111, 107]]
    assert isinstance(bad, ValueError)
    assert also_good == [[ord(c) for c in "fine"]]


async def test_later_turns_are_tokenized_again(tokens: JobEncoder) -> None:
    inline, en = tokens, CountingEncoder(0)
    assert await inline.encode(en, ["a"]) == [[97]]
    assert await inline.encode(en, ["b"]) == [[98]]
    assert en.calls == [1, 1]


async def test_a_large_job_is_tokenized_alone_in_the_pool(tokens: JobEncoder) -> None:
    en = CountingEncoder(0)
    large = ["x"] * (INLINE_SEGMENTS + 1)
    ids, small = await asyncio.gather(tokens.encode(en, large), tokens.encode(en, ["y"]))
    assert ids == [[120]] * len(large) and small == [[121]]
    in_pool = [thread.startswith("pool") for thread in en.threads]
    # The small one on the loop, the large one in the pool.
    assert sorted(zip(en.calls, in_pool, strict=True)) == [(1, False), (len(large), True)]
