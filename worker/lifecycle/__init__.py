"""A job's life in the worker: each step decides, one driver executes.

- ``intake``: what a received message becomes (parse, admit, tokenize, register).
- ``admission``: the checks before admitting (limits, size, the callback's literal host).
- ``markup_steps``: what the model reads for a job with markup or terminology, its codes and
  terms put back, the terminology report.
- ``jobs``: one in-flight job; ``jobtable``: every job the worker holds.
- ``completion``: segment results in, the job's result event out.
- ``recovery``: link loss and jobs waiting too long; ``drain``: the stop on SIGTERM.
- ``quarantine`` and ``solo``: redelivered jobs run alone, in order, with intake paused.
- ``outcomes``: the typed decisions (``AckJob``, ``Requeue``, ``DeadLetter``, ``Publish``,
  ``Admit``, ``Hold``).
- ``settler``: the one place that settles a message (publish confirmed, then ack);
  ``outbox``: a result publish retried until confirmed.
- ``driver``: :class:`Lifecycle`, which runs each step and executes what it decided;
  ``ports``: what it needs of the broker, as protocols.
- ``control/``: cancelling a job (recent cancels remembered, a cancel applied to held jobs)
  and its throttled ``job.progress`` events.
"""
