"""Every ``MTQ_*`` setting: ``model`` declares them (one typed, documented, validated field
each), ``values`` turns text into values and a wrong one into one line naming the variable."""

from mtq.core.settings.model import DEFAULT_AMQP_URL, Settings

__all__ = ["DEFAULT_AMQP_URL", "Settings"]
