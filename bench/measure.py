"""What every strategy is measured with: a recording engine, a peak-memory probe, the result.

:class:`RecordingEngine` wraps the real engine and notes every ``generate`` call (segments,
longest source, real source tokens, generated tokens, seconds), so padding waste, batch sizes,
generated tokens and engine busy time come out the same way for every strategy, the
end-to-end worker included.
"""

from __future__ import annotations

import resource
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cpu import OTHER_USERS
from mtq.core.contract import DecodeOptions
from mtq.core.vouch import Hypothesis
from worker.engines import Engine
from worker.engines.languages import BILINGUAL, LanguagePair


@dataclass(frozen=True)
class BatchRecord:
    segments: int
    longest: int
    real_tokens: int
    generated_tokens: int
    seconds: float
    finished_at: float  # time.monotonic() when generate returned


class RecordingEngine:
    """An :class:`~worker.engines.Engine` that records each ``generate`` call.

    ``decode_vocab``: the opus-shaped model emits ids from its 58k vocabulary, which the small
    tokenizer it borrows cannot detokenize; ids at or past ``decode_vocab`` are read as
    ``<unk>`` (the detokenizing cost stays about the same).
    """

    def __init__(
        self, engine: Engine, pad_id: int | None = None, decode_vocab: int | None = None
    ) -> None:
        self.inner = engine
        self.info = engine.info
        self.max_source_tokens = engine.max_source_tokens
        self._pad_id = pad_id if pad_id is not None else getattr(engine, "pad_id", None)
        self._decode_vocab = decode_vocab
        tokenizer = getattr(engine, "tokenizer", None)
        self._unk_id = int(getattr(tokenizer, "unk_token_id", None) or 0)
        self._lock = threading.Lock()
        self.records: list[BatchRecord] = []

    def reset(self) -> None:
        with self._lock:
            self.records = []

    def snapshot(self) -> list[BatchRecord]:
        with self._lock:
            return list(self.records)

    def encode(self, texts: Sequence[str], pair: LanguagePair = BILINGUAL) -> list[list[int]]:
        return self.inner.encode(texts, pair)

    def generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions, *,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[list[int]]:
        return [row.tokens for row in self.generate_scored(sources, options, prefixes=prefixes)]

    def generate_scored(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions, *,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[Hypothesis]:
        started = time.perf_counter()
        outputs = self.inner.generate_scored(sources, options, prefixes=prefixes)
        seconds = time.perf_counter() - started
        record = BatchRecord(
            segments=len(sources),
            longest=max(len(s) for s in sources),
            real_tokens=sum(len(s) for s in sources),
            generated_tokens=sum(self._generated(row.tokens) for row in outputs),
            seconds=seconds,
            finished_at=time.monotonic(),
        )
        with self._lock:
            self.records.append(record)
        return outputs

    def decode(self, outputs: Sequence[Sequence[int]]) -> list[str]:
        limit = self._decode_vocab
        if limit is not None:
            outputs = [[t if t < limit else self._unk_id for t in row] for row in outputs]
        return self.inner.decode(outputs)

    def warmup(self, options: DecodeOptions) -> None:
        self.inner.warmup(options)

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return self.inner.is_out_of_memory(exc)

    def release_memory(self) -> None:
        self.inner.release_memory()

    def __getattr__(self, name: str) -> Any:
        """Anything else the worker asks of an engine (the protocol grows) goes to the real one."""
        return getattr(self.inner, name)

    def _generated(self, row: Sequence[int]) -> int:
        """Tokens after the decoder start token, padding of finished beams left out."""
        return sum(1 for token in row[1:] if token != self._pad_id)


class MemoryProbe:
    """Peak memory of this process since :meth:`reset`.

    Host: peak RSS (``VmHWM``), reset through ``/proc/self/clear_refs`` on Linux; where that
    is impossible, ``getrusage``'s lifetime peak (then marked in the table). CUDA:
    ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``.
    """

    def __init__(self, cuda: bool = False) -> None:
        self.cuda = cuda
        self.resettable = _can_reset_peak_rss()

    def reset(self) -> None:
        if self.resettable:
            Path("/proc/self/clear_refs").write_text("5")
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak_rss_bytes(self) -> int:
        if self.resettable:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024

    def peak_gpu_bytes(self) -> int | None:
        if not self.cuda:
            return None
        import torch

        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated())


def _can_reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return Path("/proc/self/status").exists()


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks; 0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1])


@dataclass
class RunResult:
    """One strategy on one model and one job mix."""

    model: str
    mix: str
    strategy: str
    jobs: int
    segments: int
    wall_s: float
    job_latencies_s: list[float]
    batches: list[BatchRecord]
    peak_rss_bytes: int
    peak_gpu_bytes: int | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def segments_per_s(self) -> float:
        return self.segments / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def generated_tokens(self) -> int:
        return sum(b.generated_tokens for b in self.batches)

    @property
    def generated_tokens_per_s(self) -> float:
        return self.generated_tokens / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def padding_waste(self) -> float:
        """Share of source positions that were padding, over all batches."""
        padded = sum(b.segments * b.longest for b in self.batches)
        real = sum(b.real_tokens for b in self.batches)
        return 1.0 - real / padded if padded else 0.0

    @property
    def mean_batch(self) -> float:
        return statistics.fmean(b.segments for b in self.batches) if self.batches else 0.0

    @property
    def engine_busy(self) -> float:
        """Share of the wall time spent inside ``generate``."""
        busy = sum(b.seconds for b in self.batches)
        return min(1.0, busy / self.wall_s) if self.wall_s > 0 else 0.0

    @property
    def others_cores(self) -> float | None:
        """CPU the rest of the machine used during the run, in cores (other people's jobs)."""
        cpu = self.extra.get("cpu_s") or {}
        other = cpu.get(OTHER_USERS)
        return other / self.wall_s if other is not None and self.wall_s > 0 else None

    @property
    def p50_s(self) -> float:
        return percentile(self.job_latencies_s, 50)

    @property
    def p95_s(self) -> float:
        return percentile(self.job_latencies_s, 95)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "mix": self.mix, "strategy": self.strategy,
            "jobs": self.jobs, "segments": self.segments, "wall_s": round(self.wall_s, 4),
            "segments_per_s": round(self.segments_per_s, 3),
            "generated_tokens": self.generated_tokens,
            "generated_tokens_per_s": round(self.generated_tokens_per_s, 2),
            "padding_waste": round(self.padding_waste, 4),
            "p50_s": round(self.p50_s, 4), "p95_s": round(self.p95_s, 4),
            "batches": len(self.batches), "mean_batch": round(self.mean_batch, 2),
            "engine_busy": round(self.engine_busy, 4),
            "others_cores": (
                None if self.others_cores is None else round(self.others_cores, 2)
            ),
            "peak_rss_mib": round(self.peak_rss_bytes / 2**20, 1),
            "peak_gpu_mib": (
                None if self.peak_gpu_bytes is None else round(self.peak_gpu_bytes / 2**20, 1)
            ),
            "notes": self.notes, **self.extra,
        }
