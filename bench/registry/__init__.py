"""``python -m bench registry``: models from the MLflow registry under a stream of jobs.

- ``versions.py``: two versions that translate differently, registered on a real server;
- ``stream.py``: one run of a real worker against the real broker, results collected;
- ``scenarios.py``: the rollover, canary and shadow runs and what each checks;
- ``cli.py``: the command line and the tables.
"""
