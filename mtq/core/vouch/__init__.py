"""Output you can vouch for: a per-segment confidence and guards against bad output. Pure.

- ``confidence``: :class:`Hypothesis`, what an engine returns per segment (tokens, the
  log-probability of the delivered hypothesis, whether it ended with end-of-sentence), and the
  ``confidence`` number derived from it.
- ``guards``: the checks run on every translated segment (``truncated``, ``repetition``,
  ``untranslated``, ``length_ratio``, ``low_confidence``) and their findings.
- ``length``: the per model and pair calibration of the ``length_ratio`` bounds.
- ``options``: ``options.min_confidence`` and ``options.on_suspect``, validated.

docs/vouch.md explains what the number means and how each guard decides.
"""

from mtq.core.vouch.confidence import Hypothesis, confidence_of
from mtq.core.vouch.guards import CODES, Checked, Finding, check_segment
from mtq.core.vouch.length import LengthCalibration
from mtq.core.vouch.options import ON_SUSPECT, SuspectOptions, suspect_options, suspect_problem

__all__ = [
    "CODES", "ON_SUSPECT", "Checked", "Finding", "Hypothesis", "LengthCalibration",
    "SuspectOptions", "check_segment", "confidence_of", "suspect_options", "suspect_problem",
]
