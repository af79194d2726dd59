"""The worker's side of output you can vouch for: every translated job reviewed before its
result is built.

- ``review``: :class:`OutputReview`, which runs the guards of :mod:`mtq.core.vouch` on a job's
  translations, keeps the per model and pair ``length_ratio`` calibration and records the
  confidence and warning metrics.
- ``retrying``: ``options.on_suspect: "retry"``: the suspect segments' retries planned,
  queued as their own work, judged, and the warnings annotated.

The pure checks live in :mod:`mtq.core.vouch`; docs/vouch.md explains them.
"""

from worker.vouch.review import OutputReview, Reviewed

__all__ = ["OutputReview", "Reviewed"]
