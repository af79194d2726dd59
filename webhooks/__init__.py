"""Webhook delivery: the dispatcher that turns durable result events into signed POSTs.

Module map (one concern each):

- ``signing``: Standard Webhooks secrets and signatures (ids come from ``mtq.core.events``).
- ``verify``: the receiver-side check, for Python callers.
- ``ssrf``: resolves a callback once, checks it with ``mtq.core.callback_policy``, pins the address.
- ``connections``: kept-alive connections, one pool per checked address, TLS session reuse.
- ``transport``: one HTTP POST to a pinned address, with timeouts and size caps.
- ``policy``: pure retry policy (what a response means, attempt -> delay or give up).
- ``events``: the result message format (headers in, headers out).
- ``delivery``: one delivery attempt with quick in-process retries.
- ``pace``: the adaptive per-host window (AIMD on answers, latency and ``Retry-After``), pure.
- ``slotline``: a line of waiters for slots, served in arrival order (the gates' waiting).
- ``hostgates``: events wait for their host's window; only a failing host's are bounded.
- ``tenantgates``: each tenant's share of the deliveries at once; a failing tenant's bounded.
- ``admission``: tenant, host and concurrency bounds in that order; answers go back to them.
- ``settle``: the one place that acks, schedules a retry or parks a result.
- ``dispatcher``: the aio-pika consumer, a task per event and the SIGTERM drain.
- ``parking``: list, inspect and redrive parked events (``mtq webhooks``).
- ``metrics``: the dispatcher's Prometheus metrics, one object on its own registry, and the
  probe server (``hostmetrics``: the per-host series, with bounded labels).
- ``cli``: ``mtq dispatcher`` and ``mtq webhooks``.
"""
