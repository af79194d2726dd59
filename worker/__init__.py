"""The translation worker: consumer → scheduler → engine (one inference thread) → results."""
