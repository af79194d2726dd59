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
    # C and POSIX: %s, %d, %1$s, %-5.2f, %lld, %%; Python: %(name)s, %r, %(name)r, %a;
    # GNU: %m (strerror), %Zd (old size_t), %<PRIdMAX> and %6<PRIu32> (gettext's <inttypes.h>
    # macros); Objective-C: %@.
    "printf": r"%(?:\d+\$|\([A-Za-z0-9_]{1,64}\))?[-+0#']{0,4}(?:\d+|\*)?(?:\.(?:\d+|\*))?"
              r"(?:<PRI[a-zA-Z0-9_]{1,16}>|(?:hh|h|ll|l|L|q|j|z|Z|t)?[diouxXeEfFgGaAcspnrm%@])",
}

# What the output check looks for whatever patterns a job chose: every named pattern. A
# directive of the source missing from the output is reported even when the job's own
# patterns let it through to the model as plain text (a job that masks only {name} fields
# still hears of a %s that came back as "% s").
ANY_PLACEHOLDER = re.compile("|".join(f"(?:{PATTERNS[name]})" for name in PATTERNS))
NAMES: tuple[str, ...] = tuple(PATTERNS)


def unknown_names(names: Sequence[str]) -> list[str]:
    return [name for name in names if name not in PATTERNS]


def compile_patterns(names: Sequence[str]) -> re.Pattern[str] | None:
    """One alternation over the wanted patterns (each a named group), or None for none."""
    wanted = [name for name in NAMES if name in names]
    if not wanted:
        return None
    return re.compile("|".join(f"(?P<{name}>{PATTERNS[name]})" for name in wanted))
