"""How many webhooks go out at once: per tenant, per receiver host, in all.

- ``pace``: the adaptive per-host window (AIMD on answers, latency and ``Retry-After``), pure.
- ``slotline``: a line of waiters for slots, served in arrival order (the gates' waiting).
- ``hostgates``: events wait for their host's window; only a failing host's are bounded.
- ``tenantgates``: each tenant's share of the deliveries at once; a failing tenant's bounded.
- ``admission``: tenant, host and concurrency bounds in that order; answers go back to them.
"""
