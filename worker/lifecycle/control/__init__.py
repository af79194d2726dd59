"""Job control: cancelling a job and reporting its progress (README, "Cancel and progress").

- ``registry``: recent cancels, in the worker's memory and in a shared Redis, so a job that
  arrives after its cancel is cancelled at intake on whichever worker takes it.
- ``cancel``: a cancel applied to the jobs a worker holds (waiting segments dropped, what is
  in a batch finishes).
- ``throttle``: when a job's next ``job.progress`` event is due (pure).
- ``progress``: the ticker that publishes them, best effort.
"""
