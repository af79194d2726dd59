"""A whole job translated off the client path, through the steps a client's job takes.

The shadow (worker/registry/shadow.py) compares a challenger's answer with the champion's,
warnings included; a fair comparison needs the challenger's job masked, restored and
reviewed exactly as completion does it. The differences: no attention is kept (markup codes
are placed by the deterministic fallback), no retry, nothing cached, and no length
calibration (``length_ratio`` is not raised; the shadow leaves it out of the comparison).
"""

from __future__ import annotations

from mtq.core.contract import DecodeOptions, Job
from worker.engines.base import Engine
from worker.engines.languages import BILINGUAL, ModelLanguages
from worker.engines.model_set import Served
from worker.lifecycle.markup_steps import model_inputs, restore_job
from worker.registry.shadow import Retranslation
from worker.vouch.review import review


def retranslate(engine: Engine, job: Job) -> Retranslation:
    """``job`` on ``engine``; ValueError when the engine has no codes for the job's pair."""
    texts, _align = model_inputs(job)
    live = [i for i, source in enumerate(job.segments) if source.strip()]
    languages: ModelLanguages | None = getattr(engine, "languages", None)
    pair = languages.pair(job.source_lang, job.target_lang) if languages is not None else None
    if languages is not None and pair is None:
        raise ValueError(f"{engine.info.name} cannot serve {job.route}")
    # Encoded as intake encodes a client's job: the pair's language tokens where explicit.
    ids = Served(engine.info.name, engine, pair or BILINGUAL).encode([texts[i] for i in live])
    prefixes = [list(pair.target_prefix)] * len(ids) if pair and pair.target_prefix else None
    options = DecodeOptions(job.options.beam_size, job.options.max_new_tokens)
    found = engine.generate_scored(ids, options, prefixes=prefixes) if ids else []
    decoded = engine.decode([h.tokens for h in found]) if found else []
    outputs: list[list[int] | None] = [[] for _ in job.segments]
    translations = ["" for _ in job.segments]
    confidence = [1.0 for _ in job.segments]  # blank segments, as the event reports them
    ended = [True for _ in job.segments]
    for i, hypothesis, text in zip(live, found, decoded, strict=True):
        outputs[i], translations[i] = list(hypothesis.tokens), text
        confidence[i], ended[i] = hypothesis.confidence, hypothesis.finished
    blank = {i for i in range(len(job.segments)) if i not in live}
    restored = restore_job(job, translations, outputs, {}, engine.decode, answered=blank)
    reviewed = review(job, restored.translations, confidence, ended, None)
    warnings = sorted(restored.warnings + reviewed.warnings, key=lambda w: w.segment)
    return Retranslation(restored.translations, tuple(confidence), tuple(warnings))
