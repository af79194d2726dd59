"""Source-target alignments for markup restoration, from the engines' attention.

Only batches that carry markup segments pay for this; plain batches never reach this module.

- HF: after ``generate`` has chosen each output, one teacher-forced forward pass over the chosen
  outputs returns their cross-attention (the chosen beam's attention, without tracking beam
  indices through the search, and without touching the search itself, so the words are the
  same as without markup). The last layer's heads, averaged: measured on the trained model
  (docs/markup.md), it places codes better than the mean over every layer, whose lower layers
  look at positions rather than at the words being translated.
- CTranslate2: the chosen output is decoded again as a forced ``target_prefix`` with
  ``return_attention=True``, which gives its attention row by row.

Both run after ``generate``, on the inference thread, only for the segments that ask for it,
so a batch's outputs never depend on which jobs share it. An engine hands back one attention
row per output token id, over the source token ids (:class:`AttentionSource`);
:func:`char_alignment` turns that into character links for :func:`mtq.core.markup.restore`,
word by word (:func:`mtq.core.markup.word_links`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from mtq.core.markup import CharLink, token_spans, word_links

log = logging.getLogger(__name__)
Attention = list[list[float]]  # one row per output token, one weight per source token


@runtime_checkable
class AttentionSource(Protocol):
    """An engine that can say where each output token looked in its source."""

    def attention(
        self, sources: Sequence[Sequence[int]], outputs: Sequence[Sequence[int]]
    ) -> list[Attention]: ...


@runtime_checkable
class _PerModel(Protocol):
    """Several engines behind one interface (``engines/model_set.py``): pick the batch's own."""

    def engine_for(self, options: Any) -> object: ...


def attention_for(
    engine: object, sources: Sequence[Sequence[int]], outputs: Sequence[Sequence[int]],
    wanted: Sequence[bool], options: object = None,
) -> list[Attention | None]:
    """Attention for the rows that want it; None elsewhere and whenever it is unavailable
    (the restorer then uses its deterministic fallback: an alignment never fails a segment).
    """
    rows: list[Attention | None] = [None] * len(sources)
    picked = [i for i, want in enumerate(wanted) if want]
    if picked and options is not None and isinstance(engine, _PerModel):
        engine = engine.engine_for(options)
    if not picked or not isinstance(engine, AttentionSource):
        return rows
    try:
        found = engine.attention([sources[i] for i in picked], [outputs[i] for i in picked])
    except Exception:  # the fallback placement still keeps every guarantee
        log.warning("no attention for %d segment(s); codes placed without it", len(picked),
                    exc_info=True)
        return rows
    for i, attention in zip(picked, found, strict=True):
        rows[i] = attention
    return rows


def hf_cross_attention(
    model: Any, torch: Any, device: str, sources: Sequence[Sequence[int]],
    outputs: Sequence[Sequence[int]], pad_id: int,
) -> list[Attention]:
    """Cross-attention of ``model`` for each (source, chosen output) pair.

    Row ``t`` of the result is the attention of the decoder step that produced output token
    ``t`` (its query is token ``t-1``); row 0, the decoder start token, is all zeros.
    """
    longest = max(len(s) for s in sources)
    width = max(len(o) for o in outputs)
    input_ids = torch.full((len(sources), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sources), longest), dtype=torch.long)
    decoder_ids = torch.full((len(outputs), width), pad_id, dtype=torch.long)
    for row, (tokens, output) in enumerate(zip(sources, outputs, strict=True)):
        input_ids[row, : len(tokens)] = torch.tensor(list(tokens), dtype=torch.long)
        mask[row, : len(tokens)] = 1
        decoder_ids[row, : len(output)] = torch.tensor(list(output), dtype=torch.long)
    implementation = getattr(model.config, "_attn_implementation", None)
    switch = implementation not in (None, "eager") and hasattr(model, "set_attn_implementation")
    if switch:  # sdpa/flash kernels return no attention weights
        model.set_attn_implementation("eager")
    try:
        with torch.inference_mode():
            result = model(
                input_ids=input_ids.to(device), attention_mask=mask.to(device),
                decoder_input_ids=decoder_ids.to(device), output_attentions=True,
            )
    finally:
        if switch:
            model.set_attn_implementation(implementation)
    layers = result.cross_attentions
    if not layers:
        raise RuntimeError("the model returned no cross-attention")
    # [batch, heads, target, source] per layer -> the last layer, mean over its heads.
    mean = layers[-1].float().mean(dim=1).cpu()
    rows: list[Attention] = []
    for row, (tokens, output) in enumerate(zip(sources, outputs, strict=True)):
        weights = mean[row, : max(len(output) - 1, 0), : len(tokens)].tolist()
        rows.append([[0.0] * len(tokens), *weights])
    return rows


def ct2_forced_attention(
    translator: Any, tokenizer: Any, sources: Sequence[Sequence[int]],
    outputs: Sequence[Sequence[int]],
) -> list[Attention]:
    """CTranslate2 attention of each chosen output, decoded again as a forced prefix."""
    source_tokens = [tokenizer.convert_ids_to_tokens(list(s)) for s in sources]
    prefixes = [tokenizer.convert_ids_to_tokens(list(o)) for o in outputs]
    results = translator.translate_batch(
        source_tokens, target_prefix=prefixes, beam_size=1,
        max_decoding_length=max(len(p) for p in prefixes) + 1, min_decoding_length=0,
        max_input_length=0, return_attention=True,
    )
    rows: list[Attention] = []
    for source, output, result in zip(sources, outputs, results, strict=True):
        attention = result.attention[0] if result.attention else []
        rows.append([list(row[: len(source)]) for row in attention[: len(output)]])
    return rows


def char_alignment(
    decode: Callable[[Sequence[Sequence[int]]], list[str]], source_ids: Sequence[int],
    source_text: str,
    output_ids: Sequence[int], translation: str, attention: Attention,
) -> list[CharLink]:
    """Character links between ``source_text`` (what was encoded) and ``translation``."""
    source_spans = token_spans(decode, source_ids, source_text)
    target_spans = token_spans(decode, output_ids, translation)
    return word_links(attention, source_spans, source_text, target_spans, translation)
