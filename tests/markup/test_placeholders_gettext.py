"""Placeholders of real gettext catalogues: Python's conversions and the GNU directives are
kept whole, and a placeholder that goes missing is reported whatever patterns the job chose."""

from __future__ import annotations

import pytest

from mtq.core.markup.check import verify
from mtq.core.markup.codes import PLACEHOLDERS_CHANGED, Kind
from mtq.core.markup.mask import mask
from mtq.core.markup.parse import parse


@pytest.mark.parametrize(("segment", "expected"), [
    ("%r doesn't have \"%s\" setting", ["%r", "%s"]),  # Python's repr conversion
    ("Field %(name)r is required", ["%(name)r"]),
    ("Cannot open: %m", ["%m"]),  # GNU: strerror(errno)
    ("%Zd bytes", ["%Zd"]),  # the old size_t modifier
    ("%<PRIdMAX> of %6<PRIu32> blocks", ["%<PRIdMAX>", "%6<PRIu32>"]),  # gettext's macros
    ("%1$s has %2$d files, 100%% sure", ["%1$s", "%2$d", "%%"]),
    ("%a then %-5.2f and %lld", ["%a", "%-5.2f", "%lld"]),
])
def test_printf_directives_are_placeholders(segment: str, expected: list[str]) -> None:
    codes = parse(segment, "none", ("printf",)).codes
    assert [c.raw for c in codes if c.kind is Kind.PLACEHOLDER] == expected


def test_percent_in_prose_is_not_a_placeholder() -> None:
    assert parse("100% sure, 50 % off", "none", ("printf",)).codes == []


def test_a_lost_python_conversion_is_reported() -> None:
    masked = mask("%r doesn't have \"%s\" setting", "none", ("printf",))
    [warning] = verify(masked, "%s hat keine Einstellung \"%s\"")
    assert warning.code == PLACEHOLDERS_CHANGED
    assert "'%r'" in warning.message and "missing" in warning.message


def test_a_lost_directive_is_reported_when_the_job_chose_other_patterns() -> None:
    # The job masks only {name} fields, so %s reached the model as text and came back changed.
    masked = mask("Delete {count} files from %s?", "none", ("curly",))
    [warning] = verify(masked, "{count} Dateien aus % s löschen?")
    assert warning.code == PLACEHOLDERS_CHANGED and "'%s'" in warning.message


def test_directives_kept_give_no_warning() -> None:
    masked = mask("Delete {count} files from %s?", "none", ("curly",))
    assert verify(masked, "{count} Dateien aus %s löschen?") == []


def test_directives_inside_tag_attributes_are_codes_not_placeholders() -> None:
    masked = mask('<a href="/x?q=%sa">%d files</a>', "html", ("printf",))
    assert verify(masked, '<a href="/x?q=%sa">%d Dateien</a>') == []
