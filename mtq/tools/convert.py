"""``mtq convert``: turn a local HuggingFace seq2seq model into a CTranslate2 model folder.

The conversion runs offline with ``ctranslate2``'s Transformers converter. The HF tokenizer is
saved beside the converted weights, so the CTranslate2 engine loads it with ``from_pretrained``
exactly as the HF engine does, and both engines see the same token ids. A small
:data:`CONVERSION_FILE` records what the folder was made from and what the engine needs that
the CTranslate2 files do not say (the source length limit).

The folder is built next to the destination and moved into place only when complete, so a
failed conversion never leaves a half-written model where ``MTQ_MODEL`` points. Before the
move, :mod:`mtq.tools.convert_check` translates a sample with both models: a conversion that
translates differently is refused (or, within quantization noise, reported).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mtq.core.errors import ConfigError
from mtq.core.settings import Settings
from mtq.tools.convert_check import verify_conversion
from worker.engines.conversion import CONVERSION_FILE, Conversion

log = logging.getLogger(__name__)

QUANTIZATIONS = ("int8", "int8_float16", "float16", "float32")
# HF config class -> family, for the encoder-decoder models the CTranslate2 engine can serve.
SUPPORTED_ARCHITECTURES = {
    "MarianConfig": "Marian (OPUS-MT)",
    "M2M100Config": "M2M100 and NLLB",
    "MBartConfig": "mBART",
    "T5Config": "T5",
    "MT5Config": "mT5",
}
_PROBE_TEXT = "Check that the saved tokenizer encodes like the source one."

def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "convert", help="convert a local HF seq2seq model for MTQ_ENGINE=ctranslate2",
        description="Convert a local HuggingFace translation model (Marian/OPUS-MT, M2M100, "
        "NLLB, mBART, T5) to CTranslate2, offline, with its tokenizer beside it. Then run the "
        "worker with MTQ_ENGINE=ctranslate2 MTQ_MODEL=DST.",
    )
    parser.add_argument("source", type=Path, metavar="SRC", help="local HF model directory")
    parser.add_argument("destination", type=Path, metavar="DST", help="folder to create")
    parser.add_argument(
        "--quantization", choices=QUANTIZATIONS, default=None,
        help="store the weights in this type (default: keep the source precision). "
        "The worker's MTQ_COMPUTE_TYPE still decides the type used at run time.",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace DST if it exists and is not empty"
    )
    parser.set_defaults(func=run_convert)


def run_convert(args: argparse.Namespace, settings: Settings) -> int:
    conversion = convert_model(
        args.source, args.destination, args.quantization, force=args.force
    )
    print(
        f"converted {args.source} ({conversion.architecture}) to {args.destination} "
        f"as {conversion.quantization or 'source precision'} in {conversion.seconds:.1f} s\n"
        f"serve it with: MTQ_ENGINE=ctranslate2 MTQ_MODEL={args.destination} mtq worker"
    )
    return 0


def convert_model(
    source: Path, destination: Path, quantization: str | None = None, *, force: bool = False
) -> Conversion:
    """Convert ``source`` into ``destination``; raise ConfigError saying what is wrong."""
    started = time.monotonic()
    if quantization is not None and quantization not in QUANTIZATIONS:
        raise ConfigError(
            f"quantization {quantization!r} is not one of {', '.join(QUANTIZATIONS)}"
        )
    architecture, hf_config = _check_source(source)
    _check_destination(source, destination, force=force)
    try:
        import ctranslate2
        from ctranslate2.converters import TransformersConverter
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise ConfigError(
            f"mtq convert needs ctranslate2 ({exc}); install it with pip install 'mtq[ctranslate2]'"
        ) from exc

    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        log.info("converting %s (%s) as %s", source, architecture, quantization or "stored")
        try:
            # force: the converter replaces our own (empty) staging folder.
            _all_heads_converter(TransformersConverter, str(source)).convert(
                str(staging), quantization=quantization, force=True
            )
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError, NotImplementedError) as exc:
            raise ConfigError(f"cannot convert {source}: {exc}") from exc
        tokenizer.save_pretrained(staging)
        _check_saved_tokenizer(tokenizer, staging)
        if (source / "generation_config.json").is_file():
            # Decoding defaults the engine mirrors (forced BOS/EOS tokens, length penalty).
            shutil.copy2(source / "generation_config.json", staging / "generation_config.json")
        conversion = Conversion(
            source=source.resolve().name,
            architecture=architecture,
            quantization=quantization or "",
            max_source_tokens=_max_source_tokens(hf_config, tokenizer),
            ctranslate2_version=str(ctranslate2.__version__),
            seconds=round(time.monotonic() - started, 3),
        )
        (staging / CONVERSION_FILE).write_text(
            json.dumps(asdict(conversion), indent=2) + "\n", encoding="utf-8"
        )
        agreement = verify_conversion(source, staging, tokenizer)
        if agreement.refused:
            raise ConfigError(agreement.describe(source))
        if not agreement.identical:
            log.warning("%s", agreement.describe(source))
        _move_into_place(staging, destination)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return conversion


def _all_heads_converter(base: Any, source: str) -> Any:
    """The converter with every head of the last decoder layer kept for alignment.

    CTranslate2 keeps one head by default; markup placement reads the attention returned
    with ``return_attention`` and, measured on the trained model (docs/markup.md), the mean
    of the last layer's heads places codes far better than a single head.
    """

    class Converter(base):  # type: ignore[misc]
        def _load(self) -> Any:
            spec = super()._load()
            decoder = getattr(spec, "decoder", None)
            if decoder is not None and hasattr(decoder, "alignment_heads"):
                decoder.alignment_heads = type(decoder.alignment_heads)(decoder.num_heads)
            return spec

    return Converter(source)


def _check_source(source: Path) -> tuple[str, Any]:
    """The source's config class name and config; a clear error when it cannot be converted."""
    if not source.exists():
        raise ConfigError(f"source model {source} does not exist")
    if not source.is_dir():
        raise ConfigError(
            f"source model {source} is not a directory; mtq convert works offline on a local "
            "HF model folder (download hub models with `huggingface-cli download` first)"
        )
    if not (source / "config.json").is_file():
        raise ConfigError(f"{source} has no config.json: not a HuggingFace model folder")
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read {source / 'config.json'}: {exc}") from exc
    architecture = type(config).__name__
    if architecture not in SUPPORTED_ARCHITECTURES or not config.is_encoder_decoder:
        supported = ", ".join(
            f"{family} ({name})" for name, family in SUPPORTED_ARCHITECTURES.items()
        )
        raise ConfigError(
            f"{source}: unsupported architecture {architecture} "
            f"(model_type {getattr(config, 'model_type', '?')!r}); mtq convert supports the "
            f"encoder-decoder translation models {supported}"
        )
    return architecture, config


def _check_destination(source: Path, destination: Path, *, force: bool) -> None:
    target = destination.resolve()
    origin = source.resolve()
    if target == origin or target in origin.parents:
        raise ConfigError(
            f"destination {destination} is the source model or contains it; pick another folder"
        )
    if not destination.exists():
        return
    if not destination.is_dir():
        raise ConfigError(f"destination {destination} exists and is not a directory")
    if any(destination.iterdir()) and not force:
        raise ConfigError(
            f"destination {destination} exists and is not empty; pass --force to replace it"
        )


def _check_saved_tokenizer(tokenizer: Any, folder: Path) -> None:
    """The saved tokenizer must load through from_pretrained and encode exactly alike."""
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    expected = tokenizer(_PROBE_TEXT)["input_ids"]
    if reloaded(_PROBE_TEXT)["input_ids"] != expected:
        raise ConfigError(
            f"the tokenizer saved beside the converted model ({type(reloaded).__name__}) "
            f"encodes differently from the source's ({type(tokenizer).__name__})"
        )


def _max_source_tokens(config: Any, tokenizer: Any) -> int:
    """Longest source the model takes: its position table, or the tokenizer's limit."""
    limits = [
        int(value)
        for value in (
            getattr(config, "max_position_embeddings", None),
            getattr(tokenizer, "model_max_length", None),
        )
        if isinstance(value, int) and 0 < value < 1_000_000  # tokenizers say 1e30 for "none"
    ]
    return min(limits) if limits else 1024


def _move_into_place(staging: Path, destination: Path) -> None:
    """Swap the finished folder in; an old destination is removed only after the swap."""
    if not destination.exists():
        staging.rename(destination)
        return
    if not any(destination.iterdir()):
        destination.rmdir()
        staging.rename(destination)
        return
    retired = destination.with_name(f".{destination.name}.old-{time.time_ns()}")
    destination.rename(retired)
    staging.rename(destination)
    shutil.rmtree(retired, ignore_errors=True)
