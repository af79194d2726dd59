"""``mtq promote NAME --alias champion --candidate VERSION --if-better chrF``.

The alias moves only when the candidate beats the version that holds it on the same test set
(the same digest, ``corpus.digest``), by more than ``min_delta``. Scores come from what
``mtq evaluate`` logged to each version's run; with a test set given, a version that has no
score for it is evaluated first (and its score logged). Without one, the test set is the one
both versions were scored on. Every outcome says why, in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mtq.core.errors import MtqError
from mtq.tools.loop.tracking import Tracking

# A version's score on a test set: (version) -> metric value, evaluating when needed.
Scorer = Callable[[str], float]


@dataclass(frozen=True)
class Decision:
    moved: bool
    reason: str
    kept: bool = False  # the holder stays because the candidate did not beat it (exit 3)


@dataclass(frozen=True)
class Request:
    name: str
    alias: str
    candidate: str
    metric: str
    min_delta: float = 0.0


def common_digest(tracking: Tracking, request: Request, holder: str | None) -> str:
    """The one test set both versions were scored on (no --testset given)."""
    found = tracking.digests(tracking.run_of(request.name, request.candidate), request.metric)
    if holder is not None:
        found &= tracking.digests(tracking.run_of(request.name, holder), request.metric)
    if len(found) == 1:
        return found.pop()
    whom = f"versions {request.candidate} and {holder}" if holder else \
        f"version {request.candidate}"
    if not found:
        raise MtqError(f"{whom} of {request.name} have no {request.metric} on a common test "
                       "set: pass --testset FILE (missing scores are then evaluated)")
    raise MtqError(f"{whom} of {request.name} were scored on several test sets "
                   f"({', '.join(sorted(found))}): pass --testset FILE to say which")


def logged_or(tracking: Tracking, request: Request, digest: str,
              evaluate: Scorer | None) -> Scorer:
    """A scorer that reads the logged metric and evaluates only when it is missing."""
    def value(version: str) -> float:
        logged = tracking.logged(tracking.run_of(request.name, version), digest)
        if request.metric in logged:
            return logged[request.metric]
        if evaluate is None:
            raise MtqError(f"version {version} of {request.name} has no {request.metric} on "
                           f"test set {digest}")
        return evaluate(version)
    return value


def decide(tracking: Tracking, request: Request, holder: str | None, digest: str,
           value: Scorer) -> Decision:
    """Compare and, when the candidate wins, move the alias."""
    name, alias, metric = request.name, request.alias, request.metric
    candidate = value(request.candidate)
    on = f"on test set {digest}"
    if holder is None:
        tracking.move_alias(name, alias, request.candidate)
        return Decision(True, f"moved {alias} of {name} to version {request.candidate}: the "
                              f"alias had no holder ({metric} {candidate:.2f} {on})")
    current = value(holder)
    if candidate > current + request.min_delta:
        tracking.move_alias(name, alias, request.candidate)
        return Decision(True, f"moved {alias} of {name} from version {holder} to "
                              f"{request.candidate}: {metric} {candidate:.2f} beats "
                              f"{current:.2f} {on}")
    margin = f" by more than {request.min_delta:g}" if request.min_delta else ""
    return Decision(False, f"kept {alias} of {name} on version {holder}: candidate version "
                           f"{request.candidate} has {metric} {candidate:.2f}, which does not "
                           f"beat {current:.2f}{margin} {on}", kept=True)


def promote(tracking: Tracking, request: Request, digest: str | None,
            evaluate: Scorer | None) -> Decision:
    """The whole step; ``digest`` is the given test set's (None: the common one)."""
    tracking.run_of(request.name, request.candidate)  # an unknown version stops here
    holder = tracking.holder(request.name, request.alias)
    if holder == request.candidate:
        return Decision(False, f"{request.alias} of {request.name} is already on version "
                               f"{request.candidate}: nothing to do")
    digest = digest or common_digest(tracking, request, holder)
    return decide(tracking, request, holder, digest,
                  logged_or(tracking, request, digest, evaluate))
