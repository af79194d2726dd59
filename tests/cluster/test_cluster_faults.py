"""Losing broker nodes loses nothing: the cluster fault suite, short form (one worker, one
dispatcher). The full form with more processes is ``scripts/cluster-faults.sh``.

The cluster is started by the test itself on free ports beside the machine's broker. When it
cannot start (RabbitMQ not installed, a node that does not boot) the test fails with the
node's log, it is never skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.suite import run_suite

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fault, pytest.mark.cluster,
              pytest.mark.timeout(900)]


def test_killing_queue_leaders_and_stopping_a_follower_loses_no_webhook(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    figures = run_suite(tmp_path, tiny_model_path, workers=1, dispatchers=1, rate=10.0)
    print(figures.table())
    names = [f.name for f in figures.faults]
    assert len(names) == 3 and names[0].startswith("kill -9 leader of mtq.jobs."), names
    assert names[1] == "kill -9 leader of mtq.results" and names[2].startswith("stop_app"), names
    not_recovered = [f.name for f in figures.faults if f.recover_s is None]
    assert not not_recovered, f"no webhook after {not_recovered}:\n{figures.table()}"
    assert figures.published > 0 and figures.delivered >= figures.published, figures.table()
    assert figures.lost == 0, figures.table()
    assert figures.jobs_with_two_ids == 0, figures.table()
    assert figures.bad_signatures == 0, figures.table()
    assert figures.failed_answers > 0, "the endpoint never failed: the suite tested too little"
