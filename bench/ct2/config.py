"""The rows of the CTranslate2 comparison: engine set-ups and run sizes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineConfig:
    """One engine set-up: which engine, which compute type, replicas x threads per replica."""

    engine: str  # "hf" | "ctranslate2"
    compute_type: str  # HF: the torch dtype; CTranslate2: the requested compute type
    replicas: int = 1
    threads: int = 1  # HF: torch intra-op threads (MTQ_TORCH_THREADS); CT2: intra_threads

    @property
    def label(self) -> str:
        name = "HF" if self.engine == "hf" else "CT2"
        shape = f"{self.replicas}x{self.threads}" if self.engine != "hf" else f"{self.threads}t"
        return f"{name} {self.compute_type} {shape}"


@dataclass(frozen=True)
class Ct2Config:
    model: str  # "opus" | "tiny"
    segments: int
    max_new_tokens: int
    mix: str = "large"
    large_job_size: int = 40
    threads: int = 0  # CT2 intra threads of the one-replica rows; 0: all cores (its default)
    hf_threads: int = 0  # HF torch threads; 0: the worker's default (cores - 1, at least 1)
    hf_all_cores_row: bool = True  # also HF at one thread per core (when that differs)
    beam_size: int = 4
    e2e: bool = True
    webhooks: str = "off"  # "off": timed to mtq.results; "auto": through the dispatcher too
    token_budget: int = 8192
    max_batch_segments: int = 64
    max_wait_s: float = 0.02
    seed: int = 2024

    def engines(self) -> list[tuple[EngineConfig, tuple[str, ...]]]:
        """The engine set-ups in run order, each with the strategies it runs."""
        from mtq.core.cpus import usable_cpus as _cores  # CT2's own default intra threads
        from worker.engines.hf import cpu_threads

        t = self.threads or _cores()
        hf = cpu_threads(self.hf_threads)
        e2e = ("limit", "e2e") if self.e2e else ("limit",)
        rows: list[tuple[EngineConfig, tuple[str, ...]]] = [
            (EngineConfig("hf", "float32", 1, hf), e2e)
        ]
        if self.hf_all_cores_row and _cores() != hf:
            rows.append((EngineConfig("hf", "float32", 1, _cores()), e2e))
        rows += [
            (EngineConfig("ctranslate2", "float32", 1, t), ("limit",)),
            (EngineConfig("ctranslate2", "int8", 1, t), e2e),
            (EngineConfig("ctranslate2", "int8", 2, 1), e2e),
        ]
        return rows


FULL = Ct2Config(model="opus", segments=192, max_new_tokens=30, large_job_size=48)
QUICK = Ct2Config(model="tiny", segments=12, max_new_tokens=6, large_job_size=6,
                  token_budget=512, max_batch_segments=8)
