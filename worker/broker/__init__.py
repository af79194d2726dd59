"""The worker's AMQP layer: the only modules that import aio-pika or aiormq.

- ``link``: :class:`BrokerLink`: connect, declare, consume both lanes, reconnect after a loss.
- ``session``: one connection's channels (consume, publish) and their loss.
- ``consumers``: a session's consumers; a window change without a redelivery (the old consumer
  retires, cancelled once full).
- ``message``: a received job message (:class:`JobMessage`) and its :class:`Delivery`,
  settled exactly once.
- ``control``: control messages (a job's cancel) on a channel of their own: this worker's
  queue on ``mtq.control`` and the durable ``mtq.control.pending``, taken before jobs.
- ``publisher``: result events (gathered per loop turn) and dead letters, always confirmed.
- ``outbox``: a result publish retried until confirmed, and what was already confirmed.
"""
