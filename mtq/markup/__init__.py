"""Markup-safe translation: mask codes and placeholders out of a segment, put them back after.

Pure: no model, no broker. ``mask`` gives the text the model translates; ``restore`` puts every
code back into the translation (using an alignment when one is given) and reports, per
segment, any guarantee that could not be met.
"""

from mtq.markup.align import CharLink, token_links, token_spans
from mtq.markup.check import verify
from mtq.markup.codes import Code, Kind, MarkupWarning, SegmentWarning
from mtq.markup.mask import Masked, mask
from mtq.markup.options import MarkupOptions, markup_options, options_problem
from mtq.markup.parse import MARKUPS, parse
from mtq.markup.placeholders import NAMES as PLACEHOLDER_NAMES
from mtq.markup.restore import Restored, restore

__all__ = [
    "MARKUPS", "PLACEHOLDER_NAMES", "CharLink", "Code", "Kind", "MarkupOptions", "MarkupWarning",
    "Masked", "Restored", "SegmentWarning", "markup_options", "mask", "options_problem", "parse",
    "restore", "token_links", "token_spans", "verify",
]
