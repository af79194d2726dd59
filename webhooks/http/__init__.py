"""The network path of one webhook: resolve, check, pin, connect, POST.

- ``ssrf``: resolves a callback once, checks every address with ``mtq.core.callback_policy``,
  pins the one to connect to (DNS answers cached, each checked on every try).
- ``connections``: kept-alive connections, one pool per checked address, TLS session reuse.
- ``transport``: one HTTP POST to a pinned address, with timeouts and size caps.
"""
