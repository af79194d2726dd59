"""The checks run on every translated segment after decoding. Pure: text and numbers in,
findings out; each finding becomes a warning ``{"segment", "code", "message"}``.

Text-based on purpose, so a translation from the cache is checked exactly as a fresh one, and
the checks do not depend on which tokenizer produced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

TRUNCATED = "truncated"
REPETITION = "repetition"
UNTRANSLATED = "untranslated"
LENGTH_RATIO = "length_ratio"
LOW_CONFIDENCE = "low_confidence"
CODES = (TRUNCATED, REPETITION, UNTRANSLATED, LENGTH_RATIO, LOW_CONFIDENCE)

# repetition: the output ends in at least LOOP_COPIES copies of one piece of at most
# LOOP_MAX_UNIT characters, together at least LOOP_MIN_SPAN characters ("ha ha ha" is not a loop).
LOOP_COPIES = 3
LOOP_MAX_UNIT = 40
LOOP_MIN_SPAN = 16
# untranslated: the letters and digits of source and output, case-folded, at least this similar;
# sources with fewer than COPY_MIN_LETTERS letters (names, codes, numbers: text a translation
# may rightly copy) are not checked.
COPY_SIMILARITY = 0.9
COPY_MIN_LETTERS = 16


@dataclass(frozen=True)
class Finding:
    code: str
    message: str


@dataclass(frozen=True)
class Checked:
    """One translated segment as the guards see it."""

    source: str
    output: str
    confidence: float
    finished: bool = True


def check_segment(
    segment: Checked, *, languages_differ: bool, length_bounds: tuple[float, float] | None,
    min_confidence: float | None,
) -> list[Finding]:
    """Every finding on ``segment``, in the order of :data:`CODES`."""
    findings: list[Finding] = []
    if not segment.finished:
        findings.append(Finding(TRUNCATED, "decoding stopped at the token cap without an end "
                                "of sentence; the translation is cut off"))
    loop = trailing_loop(segment.output)
    if loop is not None:
        piece, copies = loop
        findings.append(Finding(REPETITION, f"the output ends in a loop: {piece.strip()!r} "
                                f"repeated {copies} times"))
    similarity = copy_similarity(segment.source, segment.output) if languages_differ else 0.0
    if similarity >= COPY_SIMILARITY:
        findings.append(Finding(UNTRANSLATED, f"the output is {similarity:.0%} the source text "
                                "although the languages differ"))
    ratio = length_ratio(segment.source, segment.output)
    if length_bounds is not None and ratio is not None:
        low, high = length_bounds
        if not low <= ratio <= high:
            findings.append(Finding(LENGTH_RATIO, f"the output is {ratio:.2f} times as long as "
                                    f"the source; this model's outputs for this pair lie "
                                    f"between {low:.2f} and {high:.2f}"))
    if min_confidence is not None and segment.confidence < min_confidence:
        findings.append(Finding(LOW_CONFIDENCE, f"confidence {segment.confidence:.3f} is below "
                                f"options.min_confidence {min_confidence:g}"))
    return findings


def trailing_loop(text: str) -> tuple[str, int] | None:
    """The piece ``text`` ends repeating and how many times, or None.

    A final partial copy is allowed (a loop cut off by the token cap ends mid-piece).
    """
    text = text.rstrip()
    end = len(text)
    for unit in range(1, min(LOOP_MAX_UNIT, end // LOOP_COPIES) + 1):
        for partial in range(unit):
            start = end - partial - unit
            piece = text[start:start + unit]
            if text[end - partial:] != piece[:partial]:
                continue
            copies = 1
            while start - unit >= 0 and text[start - unit:start] == piece:
                copies += 1
                start -= unit
            if copies >= LOOP_COPIES and copies * unit >= LOOP_MIN_SPAN:
                return piece, copies
    return None


def copy_similarity(source: str, output: str) -> float:
    """How much ``output`` is ``source`` (0 to 1), on letters and digits, case-folded."""
    left, right = _letters(source), _letters(output)
    if sum(ch.isalpha() for ch in left) < COPY_MIN_LETTERS or not right:
        return 0.0
    if left == right:
        return 1.0
    matcher = SequenceMatcher(None, left, right, autojunk=False)
    if matcher.real_quick_ratio() < COPY_SIMILARITY or matcher.quick_ratio() < COPY_SIMILARITY:
        return matcher.quick_ratio()
    return matcher.ratio()


def length_ratio(source: str, output: str) -> float | None:
    """Output characters per source character (stripped); None for a blank source."""
    chars = len(source.strip())
    return len(output.strip()) / chars if chars else None


def _letters(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())
