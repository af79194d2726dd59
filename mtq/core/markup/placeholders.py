"""Named placeholder patterns: format-string fields that are never translated."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Order matters where patterns overlap: ``{{name}}`` is tried before ``{name}``.
PATTERNS: dict[str, str] = {
    # {{count}}, {{ user.name }}
    "double_curly": r"\{\{[^{}\n]{1,64}\}\}",
    # {0}, {name}, {0:N2}, {count, plural, ...} without nested braces, {}
    "curly": r"\{[A-Za-z0-9_.$]{0,64}(?:[,:][^{}\n]{0,64})?\}",
    # %s, %d, %1$s, %-5.2f, %(name)s, %%
    "printf": r"%(?:\d+\$|\([A-Za-z0-9_]{1,64}\))?[-+0#']{0,4}(?:\d+|\*)?(?:\.(?:\d+|\*))?"
              r"(?:hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGaAcspn%@]",
}
NAMES: tuple[str, ...] = tuple(PATTERNS)


def unknown_names(names: Sequence[str]) -> list[str]:
    return [name for name in names if name not in PATTERNS]


def compile_patterns(names: Sequence[str]) -> re.Pattern[str] | None:
    """One alternation over the wanted patterns (each a named group), or None for none."""
    wanted = [name for name in NAMES if name in names]
    if not wanted:
        return None
    return re.compile("|".join(f"(?P<{name}>{PATTERNS[name]})" for name in wanted))
