"""Checks a job passes before it is admitted: limits derived from settings, size, callback."""

from __future__ import annotations

from collections.abc import Sequence

from mtq.core.callback_policy import NetworkPolicy, check_literal_host
from mtq.core.contract import JobLimits
from mtq.core.settings import Settings


def job_limits(settings: Settings) -> JobLimits:
    return JobLimits.from_settings(settings)


def size_problem(
    tokens: Sequence[Sequence[int]], max_source_tokens: int, max_job_tokens: int
) -> str | None:
    """Why the job is too large for the model or for the consumer timeout, if it is."""
    too_long = next((i for i, ids in enumerate(tokens) if len(ids) > max_source_tokens), None)
    if too_long is not None:
        return (f"segments[{too_long}] is {len(tokens[too_long])} tokens; the model takes "
                f"at most {max_source_tokens}")
    total = sum(len(ids) for ids in tokens)
    if total > max_job_tokens:
        return (f"the job is {total} source tokens; the limit is {max_job_tokens} per job "
                "(split it into parts)")
    return None


def blocked_reason(callback_url: str, policy: NetworkPolicy) -> str | None:
    """``blocked_destination: ...`` when the SSRF policy refuses the callback without DNS."""
    problem = check_literal_host(callback_url, policy)
    return None if problem is None else f"blocked_destination: {problem}"
