"""Per-row forced target prefixes for ``transformers``' ``generate`` (the target language).

``forced_bos_token_id`` forces one token for a whole batch. :class:`ForcedPrefixes` does the
same thing per row, the same way (every other token's score set to ``-inf``, the forced one's
to 0, at the same steps), so a segment in a mixed-pair batch scores and searches exactly as it
would alone with ``forced_bos_token_id`` set to its target language.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


class ForcedPrefixes:
    """A logits processor forcing ``prefixes[b]`` as the first tokens of batch row ``b``.

    Rows are batch-major with ``beams`` rows per source, as ``generate`` expands them.
    """

    def __init__(self, torch: Any, prefixes: Sequence[Sequence[int]], beams: int) -> None:
        self._torch = torch
        self._prefixes = [tuple(p) for p in prefixes]
        self._beams = beams
        self._longest = max((len(p) for p in self._prefixes), default=0)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        step = input_ids.shape[-1] - 1  # tokens generated after the decoder start token
        if step >= self._longest:
            return scores
        rows: list[int] = []
        forced: list[int] = []
        for source, prefix in enumerate(self._prefixes):
            if step < len(prefix):
                first = source * self._beams
                rows.extend(range(first, first + self._beams))
                forced.extend([prefix[step]] * self._beams)
        if not rows:
            return scores
        torch = self._torch
        processed = scores.clone()
        index = torch.tensor(rows, device=scores.device)
        processed[index] = -math.inf
        processed[index, torch.tensor(forced, device=scores.device)] = 0
        return processed


def forcing_kwargs(
    torch: Any, prefixes: Sequence[Sequence[int]] | None, beams: int
) -> dict[str, Any]:
    """``generate`` keyword arguments forcing ``prefixes`` per row; none when there are none.

    A forced BOS from the model's generation config would fight the per-row one: turned off.
    """
    if prefixes is None or not any(prefixes):
        return {}
    from transformers import LogitsProcessorList

    return {
        "logits_processor": LogitsProcessorList([ForcedPrefixes(torch, prefixes, beams)]),
        "forced_bos_token_id": None,
    }
