"""Micro-batched decoding returns the same strings as one-at-a-time decoding (fp32, CPU)."""

from __future__ import annotations

from pathlib import Path

from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from mtq.tools.tiny_corpus import generated_sentences
from worker.batching.items import WorkItem
from worker.batching.scheduler import Scheduler
from worker.engines.hf import HFEngine


def test_batched_equals_one_at_a_time(tiny_model_path: Path) -> None:
    engine = HFEngine(Settings(model=str(tiny_model_path), device="cpu", dtype="float32"))
    options = DecodeOptions(beam_size=4, max_new_tokens=16)
    sentences = list(generated_sentences(48, seed=21))
    tokens = engine.encode(sentences)
    scheduler = Scheduler(token_budget=3000, max_batch_segments=16, max_wait_s=0)
    for start in range(0, len(sentences), 5):  # several "jobs"
        scheduler.add(
            f"job{start}", options,
            [WorkItem(i, tokens[i]) for i in range(start, min(start + 5, len(sentences)))],
            now=0,
        )
    batched: dict[int, str] = {}
    batch_sizes = []
    while (batch := scheduler.next_batch(now=1, force=True)) is not None:
        batch_sizes.append(len(batch.segments))
        outputs = engine.generate([s.tokens for s in batch.segments], options)
        for segment, text in zip(batch.segments, engine.decode(outputs), strict=True):
            batched[segment.index] = text  # indexes above are global, so they key the answer
    assert max(batch_sizes) > 1, "the test must exercise real batches"
    single = [engine.decode(engine.generate([ids], options))[0] for ids in tokens]
    assert [batched[i] for i in range(len(sentences))] == single
    assert len(set(single)) > len(single) // 2, "outputs should depend on the input"

