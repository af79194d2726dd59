"""Markup on a multilingual model: jobs of several pairs, each with its codes intact."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from mtq.core.markup import parse
from mtq.core.markup.codes import UNBALANCED
from mtq.core.vouch import CODES as GUARD_CODES
from mtq.tools.tiny_model import build_tiny_model
from tests.integration.helpers import make_job
from tests.markup.catalog import CATALOG
from tests.multilingual.helpers import CALLBACK, settings_for, translate_all

pytestmark = pytest.mark.integration
PAIRS = (("en", "de"), ("en", "fr"), ("de", "fr"))


def test_markup_jobs_of_several_pairs_keep_their_codes(
    amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    model: Path = build_tiny_model(tmp_path_factory.mktemp("m2m") / "tiny-m2m100",
                                   kind="m2m100")
    routes = tuple(f"{s}-{t}" for s, t in PAIRS)
    settings = settings_for(amqp_url, model=str(model), routes=routes)
    xml = [s for m, p, s in CATALOG if m == "xml" and not p][:8]
    jobs = [
        make_job(f"{s}-{t}", xml, CALLBACK, source_lang=s, target_lang=t,
                 options={"beam_size": 2, "max_new_tokens": 8, "markup": "xml"})
        for s, t in PAIRS
    ]
    events = translate_all(settings, jobs)

    for job in jobs:
        event = events[job["job_id"]]
        # No markup warning (the random model's outputs are cut off at 8 tokens: guards speak).
        assert [w for w in event["warnings"] if w["code"] not in GUARD_CODES] == []
        for segment, output in zip(job["segments"], event["translations"], strict=True):
            source, result = parse(segment, "xml"), parse(output, "xml")
            assert Counter(c.raw for c in result.codes) == Counter(c.raw for c in source.codes)
            assert not any(w.code == UNBALANCED for w in result.warnings)
