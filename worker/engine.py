"""Engines turn token batches into token batches. The only module family that imports torch.

:class:`Engine` is the interface the rest of the worker sees; :class:`HFEngine` is the
reference implementation on ``transformers``' ``AutoModelForSeq2SeqLM``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from mtq.contract import DecodeOptions, ModelInfo
from mtq.errors import ConfigError
from mtq.settings import Settings

log = logging.getLogger(__name__)


class Engine(Protocol):
    """What the scheduler and inference thread need from a model."""

    info: ModelInfo
    max_source_tokens: int

    def encode(self, texts: Sequence[str]) -> list[list[int]]: ...

    def generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions
    ) -> list[list[int]]: ...

    def decode(self, outputs: Sequence[Sequence[int]]) -> list[str]: ...

    def warmup(self, options: DecodeOptions) -> None: ...

    def suggest_token_budget(self, configured: int, options: DecodeOptions) -> int: ...

    def is_out_of_memory(self, exc: BaseException) -> bool: ...

    def release_memory(self) -> None: ...


def model_revision(model_ref: str, config: Any, override: str = "") -> str:
    """The hub commit for hub models, else a content hash of the local weights."""
    if override:
        return override
    commit = getattr(config, "_commit_hash", None)
    if commit:
        return str(commit)
    path = Path(model_ref)
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    if not weights:
        return "unknown"
    digest = hashlib.sha256()
    for file in weights:
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()[:16]


def model_display_name(model_ref: str) -> str:
    """A hub id as given; a local directory by its name only (no host paths in webhooks)."""
    path = Path(model_ref)
    return path.name if path.exists() else model_ref


def load_engine(settings: Settings) -> Engine:
    if not settings.model:
        raise ConfigError(
            "MTQ_MODEL is not set: give a HuggingFace model id (e.g. Helsinki-NLP/opus-mt-en-de) "
            "or a local directory (build one offline with `mtq tiny-model PATH`)"
        )
    if settings.engine == "ctranslate2":
        from worker.engine_ct2 import CTranslate2Engine

        return CTranslate2Engine(settings)
    return HFEngine(settings)


class HFEngine:
    """``transformers`` seq2seq model: beam search with ``generate`` under inference mode."""

    def __init__(self, settings: Settings) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self._torch = torch
        self.device = _pick_device(torch, settings.device)
        if self.device == "cpu":
            # More intra-op threads than free cores makes every step several times slower
            # when the event loop and tokenizers compete for them (docs/performance.md).
            torch.set_num_threads(cpu_threads(settings.torch_threads))
        self.dtype = _pick_dtype(torch, self.device, settings.dtype)
        log.info("loading %s on %s as %s", settings.model, self.device, self.dtype)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(settings.model)
            model = AutoModelForSeq2SeqLM.from_pretrained(settings.model, dtype=self.dtype)
        except OSError as exc:
            raise ConfigError(f"cannot load model {settings.model!r}: {exc}") from exc
        self.model = model.to(self.device).eval()
        config = self.model.config
        self.pad_id = int(config.pad_token_id)
        limit = getattr(config, "max_position_embeddings", None) or 512
        self.max_source_tokens = int(min(limit, self.tokenizer.model_max_length or limit))
        self.info = ModelInfo(
            name=model_display_name(settings.model),
            revision=model_revision(settings.model, config, settings.model_revision),
            engine="hf",
            compute_type=str(self.dtype).removeprefix("torch."),
        )

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        encoded = self.tokenizer(list(texts), add_special_tokens=True, truncation=False)
        return [list(ids) for ids in encoded["input_ids"]]

    def generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions, min_new_tokens: int = 0
    ) -> list[list[int]]:
        torch = self._torch
        longest = max(len(s) for s in sources)
        input_ids = torch.full((len(sources), longest), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(sources), longest), dtype=torch.long)
        for row, tokens in enumerate(sources):
            input_ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            attention[row, : len(tokens)] = 1
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                num_beams=options.beam_size,
                max_new_tokens=options.max_new_tokens,
                do_sample=False,
                **({"min_new_tokens": min_new_tokens} if min_new_tokens else {}),
            )
        rows: list[list[int]] = output.cpu().tolist()
        return rows

    def decode(self, outputs: Sequence[Sequence[int]]) -> list[str]:
        rows = [list(output) for output in outputs]
        return list(self.tokenizer.batch_decode(rows, skip_special_tokens=True))

    def warmup(self, options: DecodeOptions) -> None:
        sources = self.encode(["Warm up the model.", "A second, longer sentence to pad."])
        self.generate(sources, DecodeOptions(options.beam_size, min(8, options.max_new_tokens)))

    def suggest_token_budget(self, configured: int, options: DecodeOptions) -> int:
        """On CUDA, size the budget from a probe batch and the free memory; else keep it."""
        if not self.device.startswith("cuda"):
            return configured
        torch = self._torch
        from worker.budget import Probe, budget_from_probe

        segments, length = 16, 32
        probe_ids = [[5] * (length - 1) + [int(self.model.config.eos_token_id)]] * segments
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        self.generate(probe_ids, options, min_new_tokens=options.max_new_tokens)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
        free, _total = torch.cuda.mem_get_info()
        budget = budget_from_probe(
            Probe(cost=segments * length * options.beam_size, peak_bytes=peak), free
        )
        log.info(
            "token budget %d from a probe (%.1f MiB for cost %d, %.1f GiB free); configured %d",
            budget, peak / 2**20, segments * length * options.beam_size, free / 2**30,
            configured,
        )
        return budget

    def is_out_of_memory(self, exc: BaseException) -> bool:
        oom = getattr(self._torch, "OutOfMemoryError", None)
        return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()

    def release_memory(self) -> None:
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()


def cpu_threads(configured: int) -> int:
    """``configured`` if set, else the CPUs this process may use minus one (at least 1)."""
    if configured > 0:
        return configured
    return max(1, available_cpus() - 1)


def available_cpus() -> int:
    """CPUs usable by this process: affinity, bounded by a cgroup v2 ``cpu.max`` quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return count


def _pick_device(torch: Any, wanted: str) -> str:
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ConfigError("MTQ_DEVICE=cuda but no CUDA device is visible")
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


def _pick_dtype(torch: Any, device: str, wanted: str) -> Any:
    if wanted != "auto":
        try:
            return getattr(torch, wanted)
        except AttributeError as exc:
            raise ConfigError(f"MTQ_DTYPE={wanted!r} is not a torch dtype") from exc
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32
