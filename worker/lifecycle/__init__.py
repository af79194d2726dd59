"""A job's life in the worker: each step decides, one settler acts.

- ``intake``: what a received message becomes (parse, admit, tokenize, register).
- ``admission``: the checks before admitting (limits, size, the callback's literal host).
- ``markup_steps``: what the model reads for a job with markup, and its codes put back.
- ``jobs``: one in-flight job; ``jobtable``: every job the worker holds.
- ``completion``: segment results in, the job's result event out.
- ``recovery``: link loss and jobs waiting too long; ``drain``: the stop on SIGTERM.
- ``quarantine`` and ``solo``: redelivered jobs run alone, in order, with intake paused.
- ``intake_window``: how many jobs the worker holds, following job sizes.
- ``outcomes``: the typed decisions (``Ack``, ``Requeue``, ``DeadLetter``, ``Publish``, ``Hold``).
- ``settler``: the one place that carries an outcome out (publish confirmed, then ack).
"""
