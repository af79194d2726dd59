"""Loading one engine set-up, recording its batches, and turning a timing into a row."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.ct2.config import EngineConfig
from bench.ct2.models import first_filler


def recording(engine: Any, vocab: int | None) -> Any:
    from bench.measure import RecordingEngine

    class Ct2Recording(RecordingEngine):
        """CTranslate2 hypotheses hold neither the decoder start token nor ``</s>``: count each
        token plus the end-of-sentence step, as :class:`RecordingEngine` counts HF rows (whose
        forced ``</s>`` takes the last slot of ``max_new_tokens``)."""

        def _generated(self, row: Sequence[int]) -> int:
            return len(row) + 1

    if getattr(engine.info, "engine", "hf") == "ctranslate2":
        return Ct2Recording(engine, decode_vocab=vocab)
    return RecordingEngine(engine, decode_vocab=vocab)


@contextlib.contextmanager
def loaded(
    config: EngineConfig, hf_path: Path, ct2_path: Path, device: str = "cpu"
) -> Iterator[tuple[Any, Any]]:
    """The engine of ``config`` (wrapped to record batches) and the Settings it runs with."""
    import torch

    from mtq.core.settings import Settings

    before = torch.get_num_threads()
    engine: Any
    if config.engine == "hf":
        from worker.engines.hf import HFEngine

        settings = Settings(
            model=str(hf_path), device=device, dtype=config.compute_type,
            torch_threads=config.threads,
        )
        engine = HFEngine(settings)  # sets torch's intra-op threads on the CPU
    else:
        from worker.engines.ct2 import CTranslate2Engine

        settings = Settings(
            model=str(ct2_path), engine="ctranslate2", device=device,
            compute_type=config.compute_type, inter_threads=config.replicas,
            intra_threads=config.threads,
        )
        engine = CTranslate2Engine(settings)
    # Filler ids of the padded vocabulary detokenize as <unk>: the same cost for both engines.
    recorded = recording(engine, first_filler(engine.tokenizer))
    try:
        yield recorded, settings
    finally:
        del recorded, engine
        gc.collect()
        torch.set_num_threads(before)
        if device == "cuda" and torch.cuda.is_available():
            torch.cuda.empty_cache()


def row_result(
    label: str, mix: str, strategy: str, jobs: int, segments: int, timing: Any, engine: Any,
    cpu: dict[str, float], config: EngineConfig, notes: list[str] | None = None,
) -> Any:
    from bench.measure import RunResult

    return RunResult(
        model=label, mix=mix, strategy=strategy, jobs=jobs, segments=segments,
        wall_s=timing.wall_s, job_latencies_s=timing.job_latencies_s, batches=engine.snapshot(),
        peak_rss_bytes=0, notes=list(notes or []),
        extra={
            "cpu_s": cpu, "engine": config.engine, "compute_type": config.compute_type,
            "runs_as": str(engine.info.compute_type), "replicas": config.replicas,
            "threads": config.threads,
        },
    )
