"""The reference engine: ``transformers``' ``AutoModelForSeq2SeqLM`` (imports torch lazily)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

from mtq.core.contract import DecodeOptions
from mtq.core.cpus import usable_cpus
from mtq.core.errors import ConfigError
from mtq.core.events import ModelInfo
from mtq.core.languages import LanguageCodes
from mtq.core.settings import Settings
from mtq.core.vouch import Hypothesis
from worker.engines.base import model_display_name, model_revision
from worker.engines.codec import (
    decode_ids,
    pick_device,
    warmup_batch,
    warmup_options,
)
from worker.engines.cpu.live_check import LiveCheck, batch_work
from worker.engines.cpu.threads import torch_plan
from worker.engines.cpu.tuning import Threads
from worker.engines.forcing import forcing_kwargs
from worker.engines.languages import BILINGUAL, LanguagePair, ModelLanguages
from worker.engines.probe import probe_batch
from worker.engines.scores import hf_hypotheses

log = logging.getLogger(__name__)


class HFEngine:
    """``transformers`` seq2seq model: beam search with ``generate`` under inference mode."""

    def __init__(self, settings: Settings) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self._torch = torch
        self.device = pick_device(settings.device, torch.cuda.is_available(), "torch")
        # More intra-op threads than free cores makes every step several times slower when
        # the event loop and tokenizers compete for them, and the best count depends on the
        # model and the machine: MTQ_TORCH_THREADS, else measured at warm-up (threads.py).
        self._settings = settings
        self._threads = torch_plan(settings, self.device)
        self.threading = self._threads.settled()
        self._live: LiveCheck | None = None  # armed after a measured warm-up
        if self.device == "cpu":
            self._set_threads(self._threads.initial)
        self.dtype = _pick_dtype(torch, self.device, settings.dtype)
        log.info("loading %s on %s as %s", settings.model, self.device, self.dtype)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(settings.model)
            model = AutoModelForSeq2SeqLM.from_pretrained(settings.model, dtype=self.dtype)
        except OSError as exc:
            raise ConfigError(f"cannot load model {settings.model!r}: {exc}") from exc
        self.model = model.to(self.device).eval()
        self.languages = ModelLanguages.from_tokenizer(
            self.tokenizer, LanguageCodes.parse(settings.language_codes)
        )
        config = self.model.config
        self.pad_id = int(config.pad_token_id)
        limit = getattr(config, "max_position_embeddings", None) or 512
        self.max_source_tokens = int(min(limit, self.tokenizer.model_max_length or limit))
        # The decoder start token takes position 0: a longer output has no position to read
        # (an IndexError mid-batch), so a larger cap is lowered to what the model can write.
        self.max_new_tokens = max(1, int(limit) - 1)
        self.info = ModelInfo(
            name=model_display_name(settings.model),
            revision=model_revision(settings.model, config, settings.model_revision),
            engine="hf",
            compute_type=str(self.dtype).removeprefix("torch."),
        )

    def encode(self, texts: Sequence[str], pair: LanguagePair = BILINGUAL) -> list[list[int]]:
        return self.languages.encode(self.tokenizer, texts, pair)

    def generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions, min_new_tokens: int = 0,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[list[int]]:
        """Output token rows of :meth:`generate_scored`."""
        scored = self.generate_scored(sources, options, min_new_tokens, prefixes=prefixes)
        return [row.tokens for row in scored]

    def generate_scored(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions, min_new_tokens: int = 0,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[Hypothesis]:
        """Beam search; ``prefixes[i]`` (the target language) is forced at the start of row i."""
        live = self._live
        if live is None:
            return self._generate(sources, options, min_new_tokens, prefixes)
        threads = live.threads_for_next_batch(time.monotonic())
        self._set_threads(threads)
        started = time.perf_counter()
        rows = self._generate(sources, options, min_new_tokens, prefixes)
        elapsed = time.perf_counter() - started
        work = batch_work(len(rows), options.beam_size, max(len(s) for s in sources),
                          max((len(r.tokens) for r in rows), default=0))
        kept = live.record(threads, work, elapsed, time.monotonic())
        if kept is not None:
            self._set_threads(kept)
            start = self.threading.at_start or self.threading.chosen
            self.threading = dataclasses.replace(
                self.threading, chosen=kept, how="checked under traffic",
                at_start=start if kept != start else None,
            )
            log.info("threading checked on real batches: %s\n%s", kept.describe(),
                     live.describe())
        return rows

    def _generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions, min_new_tokens: int,
        prefixes: Sequence[Sequence[int]] | None,
    ) -> list[Hypothesis]:
        torch = self._torch
        if options.max_new_tokens > self.max_new_tokens:
            options = dataclasses.replace(options, max_new_tokens=self.max_new_tokens)
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
                output_scores=True,
                return_dict_in_generate=True,
                **_retry_kwargs(options),
                **({"min_new_tokens": min_new_tokens} if min_new_tokens else {}),
                **forcing_kwargs(torch, prefixes, options.beam_size),
            )
            generation = self.model.generation_config
            return hf_hypotheses(
                self.model, output, beams=options.beam_size,
                max_new_tokens=options.max_new_tokens, eos_id=_first(generation.eos_token_id),
                forced_eos=generation.forced_eos_token_id is not None, prefixes=prefixes,
            )

    def attention(
        self, sources: Sequence[Sequence[int]], outputs: Sequence[Sequence[int]]
    ) -> list[list[list[float]]]:
        """Cross-attention of chosen outputs, for markup restoration (compute/alignment.py)."""
        from worker.engines.alignment import hf_cross_attention

        return hf_cross_attention(self.model, self._torch, self.device, sources, outputs,
                                  self.pad_id)

    def decode(self, outputs: Sequence[Sequence[int]]) -> list[str]:
        return decode_ids(self.tokenizer, self.languages.strip(outputs))

    def warmup(self, options: DecodeOptions) -> None:
        """Measure the CPU threading first if the settings leave it open, then warm up."""
        if self._threads.candidates:
            probe = probe_batch(self.encode, self._settings, options.beam_size)
            self.threading = self._threads.measure(self._set_threads, self.generate, probe)
        self.generate(warmup_batch(self.encode), warmup_options(options))
        self._live = LiveCheck.after_start(self.threading, self._settings.thread_recheck_s,
                                           time.monotonic())

    def _set_threads(self, threads: Threads) -> None:
        if self._torch.get_num_threads() != threads.intra:
            self._torch.set_num_threads(threads.intra)

    def suggest_token_budget(self, configured: int, options: DecodeOptions) -> int:
        """On CUDA, size the budget from a probe batch and the free memory; else keep it."""
        if not self.device.startswith("cuda"):
            return configured
        torch = self._torch
        from worker.engines.budget import Probe, budget_from_probe

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
    return max(1, usable_cpus() - 1)


def _retry_kwargs(options: DecodeOptions) -> dict[str, Any]:
    """A retry's repetition settings (mtq/core/vouch/retry.py); none for ordinary batches."""
    return {name: getattr(options, name)
            for name, neutral in (("repetition_penalty", 1.0), ("no_repeat_ngram_size", 0))
            if getattr(options, name) != neutral}


def _first(token_id: int | list[int]) -> int:
    """A generation config's end-of-sentence id (some configs list several: the first)."""
    return int(token_id[0] if isinstance(token_id, list) else token_id)


def _pick_dtype(torch: Any, device: str, wanted: str) -> Any:
    if wanted != "auto":
        try:
            return getattr(torch, wanted)
        except AttributeError as exc:
            raise ConfigError(f"MTQ_DTYPE={wanted!r} is not a torch dtype") from exc
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32
