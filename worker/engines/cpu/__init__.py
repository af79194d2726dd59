"""How an engine uses the CPU: threads per process and per replica, chosen by rules or measured.

- ``threads``: the rules (cores this process may use, replicas × threads, torch's pools).
- ``tuning``: measuring the choice at start on the model itself, bounded in time.
- ``live_check``: re-checking the measured choice on real batches now and then.
- ``replicas``: one batch split into length-sorted chunks, one per replica.
"""
