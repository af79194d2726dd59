"""Small jobs tokenized together per loop turn (worker/cpu_work.py): same ids, one call per
encoder, and a failure only for the job at fault."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.cpu_work import InlineEncoder


@dataclass(eq=False)
class CountingEncoder:
    """Ids from characters; refuses a text containing "boom"; counts its calls."""

    offset: int
    calls: list[int] = field(default_factory=list)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        self.calls.append(len(texts))
        if any("boom" in text for text in texts):
            raise ValueError("cannot tokenize")
        return [[self.offset + ord(c) for c in text] for text in texts]

    def __hash__(self) -> int:
        return id(self)


async def test_texts_of_one_turn_are_tokenized_in_one_call_per_encoder() -> None:
    inline, en, fr = InlineEncoder(), CountingEncoder(0), CountingEncoder(1000)
    jobs = [(en, ["ab", "c"]), (fr, ["d"]), (en, ["e"]), (fr, ["fg", "h"])]
    results = await asyncio.gather(*(inline.encode(encoder, texts) for encoder, texts in jobs))
    assert results == [encoder.encode(texts) for encoder, texts in jobs]  # as one by one
    assert en.calls[0] == 3 and fr.calls[0] == 3  # then the reference calls above


async def test_a_failing_text_fails_only_its_own_job() -> None:
    inline, en = InlineEncoder(), CountingEncoder(0)
    good, bad, also_good = await asyncio.gather(
        inline.encode(en, ["ok"]), inline.encode(en, ["a", "boom"]), inline.encode(en, ["fine"]),
        return_exceptions=True,
    )
    assert good == [[111, 107]]
    assert isinstance(bad, ValueError)
    assert also_good == [[ord(c) for c in "fine"]]


async def test_later_turns_are_tokenized_again() -> None:
    inline, en = InlineEncoder(), CountingEncoder(0)
    assert await inline.encode(en, ["a"]) == [[97]]
    assert await inline.encode(en, ["b"]) == [[98]]
    assert en.calls == [1, 1]

