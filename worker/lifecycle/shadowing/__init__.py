"""Jobs translated off the client path: the shadow's challenger answers (retranslate.py)."""

from worker.lifecycle.shadowing.retranslate import retranslate

__all__ = ["retranslate"]
