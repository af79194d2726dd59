"""The one test and bench harness: ports, broker vhosts, child processes, a loopback receiver.

Everything here talks to real things (the local RabbitMQ, real HTTP on loopback, real
``python -m mtq`` processes). Tests reach it directly or through the fixtures in
``tests/conftest.py``; the benchmarks (dev-only) import it too; product packages never do.
It does not import pytest: a missing broker raises :class:`BrokerUnavailable`, which a test
turns into a failure and a benchmark into a skipped row.

- :mod:`tests.harness.env`: ``free_port``, ``wait_until``/``wait_for``, secrets, child env;
- :mod:`tests.harness.broker`: vhosts, ``queue_depth``, ``rabbitmqctl`` with retries, jobs in
  (``publish_jobs``, ``publish_raw``) and results out (``drain_queue``; ``drain_results`` and
  ``take_results``, which take batch messages apart);
- :mod:`tests.harness.processes`: ``MtqProcess``, ``Supervisor``;
- :mod:`tests.harness.receiver`: ``LoopbackReceiver`` (Standard Webhooks verified), ``Reply``;
- :mod:`tests.harness.proxy`: ``TcpProxy``, a broker address that is down until a test starts it.
"""

from tests.harness.broker import (
    MANAGEMENT_URL,
    BrokerUnavailable,
    amqp_url_for,
    close_connections,
    consumer_count,
    consumers,
    create_vhost,
    delete_vhost,
    drain_queue,
    drain_results,
    management,
    private_vhost,
    publish_jobs,
    publish_raw,
    queue_counts,
    queue_depth,
    rabbitmqctl,
    take_results,
    vhost_of,
)
from tests.harness.env import (
    AMQP_HOST,
    ROUTE,
    TEST_SECRET,
    child_env,
    free_port,
    mtq_env,
    new_secret,
    wait_for,
    wait_until,
)
from tests.harness.processes import MtqProcess, Supervisor
from tests.harness.proxy import TcpProxy
from tests.harness.receiver import LoopbackReceiver, Received, Reply, Responder

__all__ = [
    "AMQP_HOST",
    "MANAGEMENT_URL",
    "ROUTE",
    "TEST_SECRET",
    "BrokerUnavailable",
    "LoopbackReceiver",
    "MtqProcess",
    "Received",
    "Reply",
    "Responder",
    "Supervisor",
    "TcpProxy",
    "amqp_url_for",
    "child_env",
    "close_connections",
    "consumer_count",
    "consumers",
    "create_vhost",
    "delete_vhost",
    "drain_queue",
    "drain_results",
    "free_port",
    "management",
    "mtq_env",
    "new_secret",
    "private_vhost",
    "publish_jobs",
    "publish_raw",
    "queue_counts",
    "queue_depth",
    "rabbitmqctl",
    "take_results",
    "vhost_of",
    "wait_for",
    "wait_until",
]
