"""The HTTP gateway (``mtq gateway``): jobs API v1 with status and cancel, and DeepL- and
LibreTranslate-compatible endpoints, over the workers' queues; state in PostgreSQL.

Module map:

- ``app``: the ASGI application: lifespan (pool, broker, feed, listener), routes, offline
  ``/docs``, ``/healthz``, ``/readyz``, ``/metrics``.
- ``api/``: the endpoints: the jobs API, the DeepL and LibreTranslate ones (its own map).
- ``service``: validate, record, publish a job; cancel; translate and wait (interactive lane).
- ``access``: API keys to tenants, and the rate limit per key.
- ``errors``: the one error type, rendered in each API's shape.
- ``broker``: publishing jobs and cancels; the gateway's queue on the results exchange.
- ``feed``: the workers' events from that queue into PostgreSQL.
- ``store``: job rows and key lookups in PostgreSQL; NOTIFY on a final event.
- ``waiters``: requests waiting on a job's final event (LISTEN).
- ``schema``: the tables and their numbered migrations.
- ``keys``: ``mtq keys`` (hashes only stored).
- ``settings``: ``MTQ_GATEWAY_*``.
- ``metrics``: Prometheus metrics of the gateway.
- ``cli``: ``mtq gateway`` and ``mtq keys``.
"""
