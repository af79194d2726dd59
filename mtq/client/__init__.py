"""Talking to the broker (and the glossary database) from outside a service.

- ``connect``: one pass over the nodes of ``MTQ_AMQP_URL`` (aio-pika and pika).
- ``broker_wait``: the reconnect backoff, and the services' wait for a broker that is down at
  start (``MTQ_BROKER_WAIT_S``).
- ``broker``: blocking connections for console commands, and the one message for a broker
  that is down.
- ``submit``: publishing jobs (confirmed, mandatory, split to the job size limit).
- ``declare``: the whole topology in one connection (``mtq topology``).
- ``side_queues``: browsing and redriving side queues; ``dead_letters``: ``mtq dlq``.
- ``glossaries/``: stored glossaries in PostgreSQL (schema and migrations, ``mtq glossary``'s
  writes, the worker's reads).
"""
