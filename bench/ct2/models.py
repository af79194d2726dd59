"""The models of the comparison: HF folders and their CTranslate2 conversion.

The opus-shaped model gets a tokenizer in Marian's layout (``</s>`` 0, ``<unk>`` 1, the
pieces, unused filler entries, ``<pad>`` last at 58,100, as in Helsinki-NLP/opus-mt-en-de):
CTranslate2's Marian converter drops the *last* vocabulary entry as the padding token, so the
tiny tokenizer alone (512 entries, ``<pad>`` at 511) cannot front a 58,101-row model.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FILLER = "<mtq-unused-{}>"

def marian_tokenizer_padded(tiny: Path, destination: Path, vocab_size: int) -> Path:
    """The tiny model's SentencePiece tokenizer with its vocabulary padded to ``vocab_size``.

    Same pieces at the same ids (so the same token ids for every sentence), then unused filler
    entries, then ``<pad>`` last: Marian's layout, which CTranslate2's converter expects.
    """
    from transformers import MarianTokenizer

    vocab = json.loads((tiny / "vocab.json").read_text(encoding="utf-8"))
    ordered = [p for p, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if p != "<pad>"]
    padded = {piece: index for index, piece in enumerate(ordered)}
    for index in range(len(padded), vocab_size - 1):
        padded[FILLER.format(index)] = index
    padded["<pad>"] = vocab_size - 1
    with tempfile.TemporaryDirectory() as scratch:
        file = Path(scratch) / "vocab.json"
        file.write_text(json.dumps(padded), encoding="utf-8")
        tokenizer = MarianTokenizer(
            source_spm=str(tiny / "source.spm"), target_spm=str(tiny / "target.spm"),
            vocab=str(file), source_lang="en", target_lang="de",
            model_max_length=json.loads(
                (tiny / "tokenizer_config.json").read_text(encoding="utf-8")
            ).get("model_max_length", 512),
        )
        tokenizer.save_pretrained(destination)
    return destination


def fast_tokenizer_padded(destination: Path, vocab_size: int) -> Path:
    """Without sentencepiece (bare GPU machines): a trained Unigram tokenizer, same layout."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from bench.models import _fast_tokenizer

    trained = _fast_tokenizer()
    state = json.loads(trained.backend_tokenizer.to_str())
    pieces = [entry for entry in state["model"]["vocab"] if entry[0] != "<pad>"]
    pieces += [[FILLER.format(i), -1e4] for i in range(len(pieces), vocab_size - 1)]
    pieces.append(["<pad>", 0.0])
    ids = {entry[0]: index for index, entry in enumerate(pieces)}
    state["model"]["vocab"] = pieces
    state["model"]["unk_id"] = ids["<unk>"]
    for token in state.get("added_tokens", []):
        token["id"] = ids[token["content"]]
    processor = state.get("post_processor") or {}
    for name, special in (processor.get("special_tokens") or {}).items():
        special["ids"] = [ids[name]]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(state)), eos_token="</s>",
        unk_token="<unk>", pad_token="<pad>", model_max_length=trained.model_max_length,
    )
    tokenizer.save_pretrained(destination)
    return destination


def build_models(
    root: Path, model: str, max_new_tokens: int, tiny_model: Path | None = None,
    shape: Any = None,
) -> tuple[Path, Path]:
    """The HF model folder (output length fixed) and its CTranslate2 conversion (float32).

    One float32 conversion serves every CPU compute type: CTranslate2 quantizes at load time
    (docs/engines.md), so the int8 rows load the same folder with ``compute_type="int8"``.
    """
    import shutil

    from bench.models import OPUS_MT_EN_DE, build_opus_shaped, build_tiny
    from mtq.tools.convert import convert_model

    root.mkdir(parents=True, exist_ok=True)
    if tiny_model is not None:
        tiny = Path(shutil.copytree(tiny_model, root / "tiny"))
    elif model == "tiny" or _have_sentencepiece():
        tiny = build_tiny(root)
    else:
        tiny = None
    if model == "tiny":
        assert tiny is not None
        path = tiny
    else:
        shape = shape or OPUS_MT_EN_DE
        tokenizer_dir = root / "opus-tokenizer"
        if tiny is not None:
            marian_tokenizer_padded(tiny, tokenizer_dir, shape.vocab_size)
        else:
            fast_tokenizer_padded(tokenizer_dir, shape.vocab_size)
        path = build_opus_shaped(root, tokenizer_from=tokenizer_dir, shape=shape)
    from bench.models import fix_output_length

    fix_output_length(path, max_new_tokens)
    converted = root / f"{path.name}-ct2"
    convert_model(path, converted, None, force=True)
    return path, converted


def _have_sentencepiece() -> bool:
    import importlib.util

    return importlib.util.find_spec("sentencepiece") is not None


def cap_floor(tokens: Sequence[Sequence[Sequence[int]]]) -> int:
    """The smallest per-batch CTranslate2 cap any batch of this workload can get."""
    from worker.engines.ct2 import decoding_cap

    return decoding_cap(shortest_source(tokens), 1 << 30)


def shortest_source(tokens: Sequence[Sequence[Sequence[int]]]) -> int:
    return min(len(ids) for job in tokens for ids in job)


def first_filler(tokenizer: Any) -> int | None:
    """The id of the first filler entry of a padded vocabulary (None: not padded)."""
    prefix = FILLER.split("{")[0]
    fillers = [i for token, i in tokenizer.get_vocab().items() if token.startswith(prefix)]
    return min(fillers) if fillers else None
