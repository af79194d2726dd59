"""Webhook delivery: the dispatcher that turns durable result events into signed POSTs.

Module map (one concern each):

- ``http/``: the network path of one webhook: resolve and check (the SSRF guard), pin,
  kept-alive connections, one POST.
- ``pacing/``: how many go out at once: the adaptive per-host window, the host and tenant
  gates, and admission through them.
- ``signing``: Standard Webhooks secrets and signatures (ids come from ``mtq.core.events``).
- ``verify``: the receiver-side check, for Python callers.
- ``policy``: pure retry policy (what a response means, attempt -> delay or give up).
- ``events``: the result message format (headers in, headers out).
- ``delivery``: one delivery attempt with quick in-process retries.
- ``settle``: the one place that acks, schedules a retry or parks a result.
- ``batch``: the events of one batch message, each settled as a message of its own.
- ``dispatcher``: the aio-pika consumer, a task per event and the SIGTERM drain.
- ``parking``: list, inspect and redrive parked events (``mtq webhooks``).
- ``metrics``: the dispatcher's Prometheus metrics, one object on its own registry, and the
  probe server (``hostmetrics``: the per-host series, with bounded labels).
- ``cli``: ``mtq dispatcher`` and ``mtq webhooks``.
"""
