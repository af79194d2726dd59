"""Markup-safe translation: mask codes and placeholders out of a segment, put them back after.

Pure: no model, no broker. ``mask`` gives the text the model translates; ``restore`` puts every
code back into the translation (using an alignment when one is given) and reports, per
segment, any guarantee that could not be met.
"""

from mtq.core.markup.align import CharLink, token_links, token_spans, word_links
from mtq.core.markup.check import verify
from mtq.core.markup.codes import Code, Kind, MarkupWarning, SegmentWarning
from mtq.core.markup.mask import Masked, mask
from mtq.core.markup.options import MarkupOptions, markup_options, options_problem
from mtq.core.markup.parse import MARKUPS, parse
from mtq.core.markup.placeholders import NAMES as PLACEHOLDER_NAMES
from mtq.core.markup.restore import Restored, restore

__all__ = [
    "MARKUPS", "PLACEHOLDER_NAMES", "CharLink", "Code", "Kind", "MarkupOptions", "MarkupWarning",
    "Masked", "Restored", "SegmentWarning", "markup_options", "mask", "options_problem", "parse",
    "restore", "token_links", "token_spans", "verify", "word_links",
]
