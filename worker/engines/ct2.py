"""The CTranslate2 engine: :class:`~worker.engines.base.Engine` on a folder from ``mtq convert``.

Token ids in and out, like :class:`~worker.engines.hf.HFEngine`: the HF tokenizer saved beside the
converted weights encodes and decodes, and ids cross into CTranslate2 as token strings
(``convert_ids_to_tokens``) and back (``convert_tokens_to_ids``). The scheduler, the contract
and the results do not know which engine runs.

Decoding mirrors the reference engine: the job's beam size, the model's generation defaults
(forced BOS/EOS, length and repetition penalties), and at most the job's ``max_new_tokens``.
It also caps each batch at :func:`decoding_cap` of its longest source, so a segment that never
produces end-of-sentence stops near its plausible length instead of at the job's limit.

On CPU the engine holds ``inter_threads`` model replicas and splits every batch into one
length-sorted chunk per replica, submitted together (``asynchronous=True``), so one inference
thread keeps all replicas busy. See docs/engines.md.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtq.core.contract import DecodeOptions
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
from worker.engines.conversion import Conversion
from worker.engines.cpu.replicas import split_for_replicas
from worker.engines.cpu.threads import ct2_plan
from worker.engines.cpu.tuning import Threads
from worker.engines.languages import BILINGUAL, LanguagePair, ModelLanguages
from worker.engines.probe import probe_batch
from worker.engines.scores import ct2_hypothesis

log = logging.getLogger(__name__)

# A batch decodes at most LENGTH_FACTOR * longest source + LENGTH_SLACK tokens (Marian's own
# decoder uses a factor of 3), and never more than the job's max_new_tokens.
LENGTH_FACTOR = 3
LENGTH_SLACK = 16
_DEFAULT_MAX_SOURCE_TOKENS = 1024


def decoding_cap(longest_source: int, max_new_tokens: int) -> int:
    """How many tokens a batch whose longest source has ``longest_source`` tokens may generate.

    Counted as HF counts ``max_new_tokens``: a final forced ``</s>`` takes one of them.
    """
    return max(1, min(max_new_tokens, LENGTH_FACTOR * longest_source + LENGTH_SLACK))


class CTranslate2Engine:
    """``ctranslate2.Translator`` behind the engine interface."""

    translator: Any  # a ctranslate2.Translator; loaded again when the threading changes

    def __init__(self, settings: Settings) -> None:
        try:
            import ctranslate2
            from transformers import AutoTokenizer
        except ImportError as exc:
            raise ConfigError(
                f"MTQ_ENGINE=ctranslate2 needs the ctranslate2 package ({exc}); "
                "install it with pip install 'mtq[ctranslate2]'"
            ) from exc
        folder = Path(settings.model)
        if not ctranslate2.contains_model(str(folder)):
            raise ConfigError(
                f"MTQ_MODEL={settings.model!r} is not a CTranslate2 model folder (no model.bin); "
                "convert a HF model with `mtq convert SRC DST` and point MTQ_MODEL at DST"
            )
        gpus = int(ctranslate2.get_cuda_device_count())
        self.device = pick_device(settings.device, gpus > 0, "CTranslate2")
        compute_type = _check_compute_type(ctranslate2, self.device, settings.compute_type)
        # Replicas x threads: explicit settings, else measured at warm-up (threads.py).
        self._settings, self._threads = settings, ct2_plan(settings, self.device)
        self._translator_for = functools.partial(
            ctranslate2.Translator, str(folder), device=self.device, compute_type=compute_type
        )
        self._loaded: Threads | None = None
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self._set_threads(self._threads.initial)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"cannot load CTranslate2 model {settings.model!r}: {exc}") from exc
        self.threading = self._threads.settled()
        conversion = Conversion.read(folder)
        self.max_source_tokens = (
            conversion.max_source_tokens if conversion else _tokenizer_limit(self.tokenizer)
        )
        # The decoder's position table is the source's (Marian, NLLB, M2M100): an output past
        # it fails the whole batch, so a larger cap is lowered to what the model can write.
        self.max_new_tokens = max(1, self.max_source_tokens - 1)
        self._defaults = _GenerationDefaults.read(folder, self.tokenizer)
        self.languages = ModelLanguages.from_tokenizer(
            self.tokenizer, LanguageCodes.parse(settings.language_codes)
        )
        self.info = ModelInfo(
            name=model_display_name(settings.model),
            revision=model_revision(settings.model, None, settings.model_revision),
            engine="ctranslate2",
            compute_type=str(self.translator.compute_type),
        )
        log.info(
            "loaded %s with CTranslate2 on %s as %s: %s (%s)", self.info.name, self.device,
            self.info.compute_type, self._threads.initial.describe(), self._threads.how,
        )

    @classmethod
    def from_folder(
        cls, folder: str | Path, *, compute_type: str = "auto", inter_threads: int = 1,
        intra_threads: int = 0, device: str = "auto",
    ) -> CTranslate2Engine:
        """Build an engine without a full Settings (benchmarks, notebooks)."""
        return cls(Settings(
            model=str(folder), engine="ctranslate2", device=device, compute_type=compute_type,
            inter_threads=inter_threads, intra_threads=intra_threads,
        ))

    def encode(self, texts: Sequence[str], pair: LanguagePair = BILINGUAL) -> list[list[int]]:
        return self.languages.encode(self.tokenizer, texts, pair)

    def suggest_token_budget(self, configured: int, options: DecodeOptions) -> int:
        """CTranslate2 caches and reuses device memory itself: keep the configured budget."""
        return configured

    def generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[list[int]]:
        """Output token rows of :meth:`generate_scored`."""
        return [row.tokens for row in self.generate_scored(sources, options, prefixes)]

    def generate_scored(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[Hypothesis]:
        """``prefixes[i]`` (the target language) is row i's ``target_prefix``."""
        submitted = []
        for chunk in split_for_replicas([len(s) for s in sources], self.replicas):
            tokens = [self.tokenizer.convert_ids_to_tokens(list(sources[i])) for i in chunk]
            cap = decoding_cap(max(len(sources[i]) for i in chunk),
                               min(options.max_new_tokens, self.max_new_tokens))
            if self._defaults.forced_eos:
                cap = max(1, cap - 1)  # HF spends the last slot of the cap on a forced </s>
            futures = self.translator.translate_batch(
                tokens, target_prefix=self._target_prefixes(chunk, prefixes),
                beam_size=options.beam_size, max_decoding_length=cap,
                min_decoding_length=0,  # as HF: an empty translation may win
                max_input_length=0,  # the worker already refused sources over the limit
                return_scores=True, return_end_token=True,  # confidence (engines/scores.py)
                asynchronous=True, **self._defaults.for_options(options),
            )
            submitted.append((chunk, futures))
        outputs: list[Hypothesis] = [Hypothesis([], 0.0, 0) for _ in sources]
        error: Exception | None = None
        # Wait for every chunk, even after a failure, so no replica still works on this batch
        # when the inference thread retries its halves.
        for chunk, futures in submitted:
            for index, future in zip(chunk, futures, strict=True):
                try:
                    result = future.result()
                except Exception as exc:  # re-raised below, once every chunk is done
                    error = error or exc
                    continue
                outputs[index] = self._hypothesis(result.hypotheses[0], result.scores[0])
        if error is not None:
            raise error
        return outputs

    def _hypothesis(self, tokens: list[str], score: float) -> Hypothesis:
        """Token ids without the end token (as before scores were asked for), and the score."""
        end = str(self.tokenizer.eos_token)
        ids = self.tokenizer.convert_tokens_to_ids(tokens[:-1] if tokens[-1:] == [end] else tokens)
        penalty = float(self._defaults.options.get("length_penalty", 1.0))
        return ct2_hypothesis([ids] if isinstance(ids, int) else list(ids), tokens, score,
                              length_penalty=penalty, end_token=end)

    def _target_prefixes(
        self, chunk: Sequence[int], prefixes: Sequence[Sequence[int]] | None
    ) -> list[list[str]] | None:
        """Each row's own prefix when given, else the saved config's forced BOS, if any."""
        default = self._defaults.target_prefix or []
        rows: list[list[str]] = [
            list(self.tokenizer.convert_ids_to_tokens(list(prefixes[i])))
            if prefixes is not None and prefixes[i] else default
            for i in chunk
        ]
        return rows if any(rows) else None

    def attention(
        self, sources: Sequence[Sequence[int]], outputs: Sequence[Sequence[int]]
    ) -> list[list[list[float]]]:
        """Attention of chosen outputs, for markup restoration (worker/engines/alignment.py)."""
        from worker.engines.alignment import ct2_forced_attention

        return ct2_forced_attention(self.translator, self.tokenizer, sources, outputs)

    def decode(self, outputs: Sequence[Sequence[int]]) -> list[str]:
        return decode_ids(self.tokenizer, self.languages.strip(outputs))

    def warmup(self, options: DecodeOptions) -> None:
        """Measure the CPU threading if the settings leave it open; then one batch per
        replica, so every replica has run once before the worker is ready."""
        if self._threads.candidates:
            probe = probe_batch(self.encode, self._settings, options.beam_size)
            self.threading = self._threads.measure(self._set_threads, self.generate, probe)
        self.generate(warmup_batch(self.encode, self.replicas), warmup_options(options))

    def _set_threads(self, threads: Threads) -> None:
        """Load the model with ``threads``: CTranslate2 fixes them when it loads one."""
        if threads == self._loaded:
            return
        if self._loaded is not None:
            del self.translator  # free the old replicas before the new ones load
        self.translator = self._translator_for(
            inter_threads=threads.replicas, intra_threads=threads.intra
        )
        self._loaded, self.replicas = threads, threads.replicas

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return "out of memory" in str(exc).lower()

    def release_memory(self) -> None:
        """Nothing to do: CTranslate2 reuses its cached device buffers for the next batch."""


def _check_compute_type(ctranslate2: Any, device: str, wanted: str) -> str:
    """``auto`` lets CTranslate2 pick the fastest type (int8 on CPU, int8_float16 on GPUs)."""
    if wanted in ("auto", "default"):
        return wanted
    supported = sorted(ctranslate2.get_supported_compute_types(device))
    if wanted not in supported:
        raise ConfigError(
            f"MTQ_COMPUTE_TYPE={wanted!r} is not supported on {device}; "
            f"choose auto or one of {', '.join(supported)}"
        )
    return wanted


def _tokenizer_limit(tokenizer: Any) -> int:
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        return limit
    return _DEFAULT_MAX_SOURCE_TOKENS


@dataclass(frozen=True)
class _GenerationDefaults:
    """The HF generation config saved by ``mtq convert``, as ``translate_batch`` settings."""

    forced_eos: bool = False
    target_prefix: list[str] | None = None  # e.g. NLLB's target language token
    options: dict[str, Any] = field(default_factory=dict)

    def for_options(self, options: DecodeOptions) -> dict[str, Any]:
        """The saved defaults, with a retry's repetition settings over them."""
        chosen = dict(self.options)
        if options.repetition_penalty != 1.0:
            chosen["repetition_penalty"] = options.repetition_penalty
        if options.no_repeat_ngram_size:
            chosen["no_repeat_ngram_size"] = options.no_repeat_ngram_size
        return chosen

    @classmethod
    def read(cls, folder: Path, tokenizer: Any) -> _GenerationDefaults:
        path = folder / "generation_config.json"
        if not path.is_file():
            return cls()
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{path}: not JSON ({exc})") from exc
        forced_bos = config.get("forced_bos_token_id")
        return cls(
            forced_eos=config.get("forced_eos_token_id") is not None,
            target_prefix=(
                None if forced_bos is None else [tokenizer.convert_ids_to_tokens(int(forced_bos))]
            ),
            options={
                name: config[name]
                for name in ("length_penalty", "repetition_penalty", "no_repeat_ngram_size")
                if config.get(name) is not None
            },
        )
