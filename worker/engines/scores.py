"""Each engine's search output as :class:`~mtq.core.vouch.Hypothesis` rows: tokens, the
log-probability of the delivered hypothesis, and whether it ended with end-of-sentence.

The score comes from the search itself (no second pass). Only the tokens the model chose
count: a forced target-language prefix and an end-of-sentence forced at the token cap do not.
Each row is summed over its own tokens only, so padding to the batch's longest output never
enters a row's score and a segment scores the same alone as in any batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mtq.core.vouch import Hypothesis


def hf_hypotheses(
    model: Any, output: Any, *, beams: int, max_new_tokens: int, eos_id: int, forced_eos: bool,
    prefixes: Sequence[Sequence[int]] | None,
) -> list[Hypothesis]:
    """Rows of a ``generate(..., output_scores=True, return_dict_in_generate=True)`` result.

    Beam search reports log-softmax scores per step; greedy search reports logits, which
    ``normalize_logits`` turns into log-probabilities.
    """
    transitions = model.compute_transition_scores(
        output.sequences, output.scores, getattr(output, "beam_indices", None),
        normalize_logits=beams == 1,
    ).float().cpu().tolist()
    sequences = output.sequences.cpu().tolist()
    rows: list[Hypothesis] = []
    for row, (tokens, scores) in enumerate(zip(sequences, transitions, strict=True)):
        generated = tokens[1:]  # after the decoder start token
        length = generated.index(eos_id) + 1 if eos_id in generated else len(generated)
        capped = length >= max_new_tokens
        finished = eos_id in generated[:length] and not (capped and forced_eos)
        scored_end = length if finished or not forced_eos or not capped else length - 1
        forced = len(prefixes[row]) if prefixes is not None else 0
        chosen = scores[forced:scored_end]
        rows.append(Hypothesis(tokens, float(sum(chosen)), len(chosen), finished))
    return rows


def ct2_hypothesis(
    ids: list[int], hypothesis: Sequence[str], score: float, *, length_penalty: float,
    end_token: str,
) -> Hypothesis:
    """A ``translate_batch(..., return_scores=True, return_end_token=True)`` hypothesis.

    CTranslate2 returns the summed log-probability divided by ``length ** length_penalty``
    (the length counting the end token when reached): multiplied back here. ``ids`` are the
    hypothesis' token ids without the end token, as the engine delivers them.
    """
    finished = bool(hypothesis) and hypothesis[-1] == end_token
    length = len(hypothesis)
    total = score * (length ** length_penalty) if length else 0.0
    return Hypothesis(ids, float(total), length, finished)
