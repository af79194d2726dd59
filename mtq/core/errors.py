"""The exception tree. Code raises these; one place per message decides what they mean."""

from __future__ import annotations


class MtqError(Exception):
    """Base of every error mtq raises on purpose."""


class ConfigError(MtqError):
    """A setting or flag is wrong; the message says which and how to fix it."""


class InputError(ConfigError):
    """An input file is unusable (missing, not UTF-8, a bad line); the message names the file
    and the line. Reported like a bad flag (exit status 2), without "configuration error"."""


class TransientError(MtqError):
    """Worth retrying later: the same input may succeed (broker blip, endpoint down)."""


class PermanentError(MtqError):
    """Retrying cannot help: report it and move on."""


class PublishError(TransientError):
    """A publish was not confirmed by the broker (nacked, unroutable or connection lost)."""


class BrokerUnreachable(MtqError):
    """RabbitMQ cannot be reached (or refused us) from a console command; exit status 2."""


class BrokerBlocked(BrokerUnreachable):
    """RabbitMQ blocked our publishes (a memory or disk alarm) longer than a command waits."""


def error_text(exc: BaseException) -> str:
    """``Type: message`` for logs, or just the type when the message is empty."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
