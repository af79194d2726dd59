"""The core every process shares; it imports nothing else of the project.

- ``contract``: job messages in (``parse_job``); ``events``: result events out;
  ``result_batch``: several events in one message; ``headers``: every ``x-mtq-*`` name;
  ``control``: the control message that cancels a job.
- ``settings/``: every ``MTQ_*`` setting, typed, documented and validated in one place.
- ``topology``: RabbitMQ names and their declaration; ``broker_urls``: the nodes of a cluster.
- ``languages`` (+ ``language_table``): the language-tag rule and model codes;
  ``model_routes``: which model serves which route, and which jobs a canary serves
  (``MTQ_CANARY``).
- ``callback_policy``: where a callback may point; ``markup/``: tags and placeholders;
  ``terms/``: glossaries and do-not-translate lists (matching, the report, glossary files).
- ``intake_rule``: the intake window's rule; ``cpus``: usable CPUs; ``health``: probes and
  ``/metrics``; ``errors``: the exception tree.
"""
