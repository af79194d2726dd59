"""The example DAG (deploy/airflow/mtq_training_loop.py) loads in Airflow's own DagBag, with
no import error, and chains split → train → register → evaluate → promote with mtq's commands.

Airflow is heavy, so this test is outside the default run (marker ``airflow``, deselected in
pyproject's addopts). It runs the DagBag in the Python that has Airflow: ``MTQ_AIRFLOW_PYTHON``
(a separate virtualenv with ``pip install apache-airflow``), else this interpreter:

    MTQ_AIRFLOW_PYTHON=/path/to/airflow-venv/bin/python python -m pytest -m airflow \
        tests/deploy/test_airflow_dag.py
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow
DAG_FOLDER = Path(__file__).resolve().parents[2] / "deploy" / "airflow"

# Run inside Airflow's interpreter: load the folder as the scheduler does, report as JSON.
PROBE = """
import json, sys
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])  # examples off: AIRFLOW__CORE__LOAD_EXAMPLES
dag = bag.dags.get("mtq_training_loop")
tasks = {}
if dag is not None:
    for t in dag.tasks:
        tasks[t.task_id] = {"downstream": sorted(t.downstream_task_ids),
                            "command": getattr(t, "bash_command", None),
                            "skip": list(getattr(t, "skip_on_exit_code", None) or [])}
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "dags": sorted(bag.dag_ids), "tasks": tasks}))
"""


def test_the_dag_loads_and_chains_the_loop() -> None:
    python = os.environ.get("MTQ_AIRFLOW_PYTHON", sys.executable)
    with tempfile.TemporaryDirectory() as home:  # Airflow writes its config and DB here
        env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        result = subprocess.run([python, "-c", PROBE, str(DAG_FOLDER)], capture_output=True,
                                text=True, env=env, timeout=240, check=False)
    if result.returncode != 0:
        pytest.fail(f"Airflow's DagBag did not run with {python} (set MTQ_AIRFLOW_PYTHON to a "
                    f"Python with apache-airflow): {result.stderr[-1500:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert report["dags"] == ["mtq_training_loop"]
    tasks = report["tasks"]
    chain = ["split", "train", "register", "evaluate", "promote"]
    for before, after in itertools.pairwise(chain):
        assert tasks[before]["downstream"] == [after]
    assert tasks["split"]["command"].startswith("mtq split ")
    assert "replace the train task" in tasks["train"]["command"]
    assert tasks["evaluate"]["command"].startswith("mtq evaluate models:/")
    assert "--if-better chrF" in tasks["promote"]["command"]
    assert tasks["promote"]["skip"] == [3]  # "kept" is a skip, not a failure
