"""The retry through the lifecycle driver, on the in-memory broker: a retry is its own batch,
its batch-mates are answered first, and a cancel while a retry is out changes nothing."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from mtq.core.contract import DecodeOptions
from mtq.core.control import CancelRequest
from tests.lifecycle.broker_double import ReversingEngine
from tests.lifecycle.test_lifecycle import SETTINGS, Rig, job
from worker.engines.model_set import ModelSet

# The reversing stand-in gives a palindrome back: the letters of the source, in another
# language: untranslated, whatever the retry tries.
PALINDROME = "Was it a car or a cat I saw"


class RetryGatedEngine(ReversingEngine):
    """Holds retry batches until the test opens the gate; records every batch's options."""

    def __init__(self) -> None:
        self.retry_entered = threading.Event()
        self.gate = threading.Event()
        self.batches: list[tuple[DecodeOptions, int]] = []

    def generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[list[int]]:
        self.batches.append((options, len(sources)))
        if options.retry:
            self.retry_entered.set()
            assert self.gate.wait(10), "the test never opened the gate"
        return super().generate(sources, options, prefixes)


async def test_a_retry_runs_alone_and_a_cancel_meanwhile_is_a_no_op() -> None:
    rig = Rig(SETTINGS)
    engine = RetryGatedEngine()
    rig.models = ModelSet.of(engine, SETTINGS.routes)
    rig.lifecycle.completion._models = rig.models
    rig.lifecycle.intake._models = rig.models
    try:
        rig.start_model()
        await rig.receive(job("suspect", PALINDROME, options={"beam_size": 2,
                                                              "on_suspect": "retry"}))
        await rig.receive(job("mate", "gggg", options={"beam_size": 2}))
        await rig.until(engine.retry_entered.is_set)
        await rig.until(lambda: len(rig.broker.channel.acks) == 1)  # the mate, already
        await rig.lifecycle.on_control(CancelRequest("suspect", None).encode(), pending=False)
        engine.gate.set()
        await rig.until(lambda: len(rig.broker.channel.acks) == 2)
        events = {p.body["job_id"]: p.body for p in rig.broker.published}
        mate, suspect = events["mate"], events["suspect"]
        assert mate["translations"] == ["gggg"] and mate["warnings"] == []
        assert suspect["type"] == "job.completed"  # the cancel came after every output
        assert suspect["translations"] == [PALINDROME[::-1]]
        [warning] = suspect["warnings"]  # type: ignore[misc]
        assert warning["code"] == "untranslated" and warning["message"].endswith(
            "; retried (beam 4): the retry was no better (untranslated), "
            "the first output was kept")
        retries = [(o.beam_size, o.max_new_tokens, n) for o, n in engine.batches if o.retry]
        assert retries == [(4, 256, 1)]  # alone, with its own options (a doubled beam)
        assert len(rig.lifecycle.table) == 0
    finally:
        rig.close()
