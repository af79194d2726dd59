"""Scaling one worker pool on the *sum* of the queues of all the routes it serves.

A ScaledObject with one trigger per queue scales on the largest of them: ten routes with 16
jobs waiting each ask for 1 replica where 10 are needed. KEDA's RabbitMQ scaler can instead
match the queues with a regular expression (``useRegex``, ``protocol: http`` only) and
combine their depths with ``operation: sum``. It reads one page of the management API's
queue listing (``pageSize``, KEDA's default 100; RabbitMQ serves at most 500 per page), so
the page must hold every matching queue.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mtq.core.errors import ConfigError
from mtq.core.languages import parse_route
from mtq.core.topology import INTERACTIVE_SUFFIX, job_queue

KEDA_DEFAULT_PAGE_SIZE = 100
MANAGEMENT_MAX_PAGE_SIZE = 500  # RabbitMQ's limit on page_size


def job_queues_regex(routes: Sequence[str]) -> str:
    """An anchored regex matching exactly the job queues of ``routes``, both lanes (bulk and
    ``.interactive``), never ``.dead``."""
    if not routes:
        raise ConfigError("no routes to scale on")
    for route in routes:
        parse_route(route)
    prefix = re.escape(job_queue(""))
    alternatives = "|".join(sorted(routes))  # route tags hold only [A-Za-z0-9_-]
    return f"^{prefix}(?:{alternatives})(?:\\.{INTERACTIVE_SUFFIX})?$"


def page_size(routes: Sequence[str]) -> int:
    """KEDA's ``pageSize`` that holds every matching queue, two per route (a multiple of 100)."""
    queues = 2 * len(routes)
    needed = max(KEDA_DEFAULT_PAGE_SIZE, math.ceil(queues / 100) * 100)
    if needed > MANAGEMENT_MAX_PAGE_SIZE:
        raise ConfigError(
            f"{len(routes)} routes ({queues} queues) are more than one management API page "
            f"({MANAGEMENT_MAX_PAGE_SIZE}) can sum: split them over several worker "
            "Deployments, each with its own ScaledObject"
        )
    return needed


def sum_trigger(routes: Sequence[str], value: int, vhost: str = "/") -> dict[str, Any]:
    """The ``triggers`` entry of a worker serving ``routes`` (as deploy/keda/base has it)."""
    metadata = {
        "protocol": "http",
        "mode": "QueueLength",
        "useRegex": "true",
        "operation": "sum",
        "queueName": job_queues_regex(routes),
        "pageSize": str(page_size(routes)),
        "vhostName": vhost,
        "value": str(value),
        "activationValue": "0",
    }
    return {
        "type": "rabbitmq",
        "name": "jobs",
        "authenticationRef": {"name": "mtq-rabbitmq-management"},
        "metadata": metadata,
    }


def matched_queues(metadata: Mapping[str, str], queues: Sequence[str]) -> list[str]:
    """Which of ``queues`` a rabbitmq trigger's metadata reads (regex or exact name)."""
    name = metadata["queueName"]
    if str(metadata.get("useRegex", "false")).lower() != "true":
        return [q for q in queues if q == name]
    pattern = re.compile(name)
    return [q for q in queues if pattern.search(q)]


def desired_replicas(depths: Sequence[float], value: float, operation: str) -> int:
    """Replicas the HPA asks for from queue depths combined by ``operation`` (from zero)."""
    if operation == "sum":
        combined = sum(depths)
    elif operation == "max":
        combined = max(depths, default=0)
    else:
        raise ValueError(f"unknown operation {operation!r}")
    return math.ceil(combined / value)


def format_triggers(routes: Sequence[str], value: int, depth_per_route: float) -> str:
    """What ``mtq plan --routes`` prints: the sum trigger, and max vs sum at a given depth."""
    trigger = sum_trigger(routes, value)["metadata"]
    per_trigger = desired_replicas([depth_per_route] * len(routes), value, "max")
    summed = desired_replicas([depth_per_route] * len(routes), value, "sum")
    return "\n".join([
        f"Scaling {len(routes)} route queues as one pool (worker-scaledobject.yaml):",
        f"  queueName  {trigger['queueName']}",
        f"  useRegex \"true\", operation sum, protocol http, pageSize {trigger['pageSize']}",
        f"  with {depth_per_route:g} jobs waiting on every route: one trigger per queue asks "
        f"for {per_trigger} replica(s) (the largest queue), the sum trigger for {summed}",
    ])
