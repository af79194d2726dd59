"""How one batch is shared among CTranslate2's CPU replicas (``inter_threads``)."""

from __future__ import annotations

from collections.abc import Sequence


def split_for_replicas(lengths: Sequence[int], parts: int) -> list[list[int]]:
    """Indexes of a batch in at most ``parts`` chunks, one per replica.

    Indexes are sorted by length, so each chunk holds similar lengths (little padding, a
    tight :func:`decoding_cap`), and cut where the running token count passes an equal share,
    so the replicas finish at about the same time.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    parts = max(1, min(parts, len(order)))
    total = sum(lengths)
    chunks: list[list[int]] = []
    current: list[int] = []
    running = 0
    for position, index in enumerate(order):
        current.append(index)
        running += lengths[index]
        chunks_left = parts - len(chunks) - 1
        items_left = len(order) - position - 1
        share_reached = running * parts >= total * (len(chunks) + 1)
        if chunks_left > 0 and (share_reached or items_left == chunks_left):
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks
