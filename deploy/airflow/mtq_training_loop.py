"""The localization team's loop, as an Airflow DAG: split → train → register → evaluate →
promote, with mtq's commands doing every step but training.

    split     mtq split: train/dev/test by a hash of each example (a growing corpus keeps
              every old example in its split, so the test set never leaks into training)
    train     THE TEAM'S TRAINING TASK: a placeholder, replace it (see TRAIN below)
    register  logs the trained folder to MLflow and registers it as a new version
    evaluate  mtq evaluate: the test split through a real worker and queue; chrF and BLEU
              logged to the version's run
    promote   mtq promote: moves the alias only when the new version beats its holder on the
              same test split (exit 3, "kept", marks the task skipped, not failed)

The workers serving ``models:/<model_name>@champion`` roll over to a promoted version on
their own (MTQ_REGISTRY_POLL_S). Where the commands run, they need ``pip install
'mtq[registry]'``, ``MLFLOW_TRACKING_URI``, and for evaluate ``MTQ_AMQP_URL`` pointing at a
broker vhost used by nothing else (it consumes ``mtq.results``). Copy this file into the DAG
folder and set the params (or trigger with a config).
"""

from __future__ import annotations

from datetime import datetime

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2.x
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]
    from airflow.models.param import Param  # type: ignore[no-redef]
    from airflow.operators.bash import BashOperator  # type: ignore[no-redef]

SPLITS = "{{ params.workdir }}/{{ run_id | replace(':', '_') }}/splits"
MODEL_DIR = "{{ params.workdir }}/{{ run_id | replace(':', '_') }}/model"
CANDIDATE = "{{ ti.xcom_pull(task_ids='register') }}"
TESTSET = f"{SPLITS}/test.tsv"

# ---------------------------------------------------------------------------------------------
# TRAIN: the team's training task. REPLACE THIS OPERATOR with your own (a KubernetesPodOperator
# on a GPU pool, a SageMaker or Vertex job, …). Contract: read {SPLITS}/train.tsv and dev.tsv,
# write a HF seq2seq model folder (config.json, weights, tokenizer) to {MODEL_DIR}.
# As shipped it fails on purpose, so the loop never registers a model nobody trained.
# ---------------------------------------------------------------------------------------------
TRAIN_PLACEHOLDER = (
    'echo "mtq_training_loop: replace the train task with your training job (it reads '
    f'{SPLITS}/train.tsv and dev.tsv and writes a HF model folder to {MODEL_DIR})" >&2; exit 1'
)

with DAG(
    dag_id="mtq_training_loop",
    description="split → train → register → evaluate → promote (mtq and MLflow)",
    schedule=None,  # trigger it when new data lands (a sensor, an asset, or by hand)
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mtq", "mlflow"],
    params={
        "corpus": Param("/data/corpus/en-de.tsv", type="string",
                        description="all parallel data so far (TSV or JSONL)"),
        "workdir": Param("/data/mtq-loop", type="string"),
        "model_name": Param("opus-en-de", type="string", description="registered model"),
        "route": Param("en-de", type="string"),
        "salt": Param("", type="string", description="keep it for the life of the corpus"),
        "shares": Param("train=0.98,dev=0.01,test=0.01", type="string"),
    },
) as dag:
    split = BashOperator(
        task_id="split",
        bash_command=("mtq split {{ params.corpus }} --out " + SPLITS
                      + " --shares {{ params.shares }} --salt '{{ params.salt }}'"),
    )

    train = BashOperator(task_id="train", bash_command=TRAIN_PLACEHOLDER)  # REPLACE (above)

    @task(task_id="register")
    def register(model_dir: str, name: str) -> str:
        """Log the trained folder to a run and register it; the new version number."""
        import mlflow
        from mlflow import MlflowClient

        with mlflow.start_run(run_name="mtq-training-loop") as run:
            mlflow.log_artifacts(model_dir, artifact_path="hf")
        version = MlflowClient().create_model_version(
            name, source=f"runs:/{run.info.run_id}/hf", run_id=run.info.run_id)
        return str(version.version)

    registered = register(MODEL_DIR, "{{ params.model_name }}")

    evaluate = BashOperator(
        task_id="evaluate",
        bash_command=("mtq evaluate models:/{{ params.model_name }}/" + CANDIDATE + " "
                      + TESTSET + " --route {{ params.route }}"),
    )

    promote = BashOperator(
        task_id="promote",
        bash_command=("mtq promote {{ params.model_name }} --alias champion --candidate "
                      + CANDIDATE + " --if-better chrF --testset " + TESTSET
                      + " --route {{ params.route }}"),
        skip_on_exit_code=3,  # the candidate did not win: the alias stays, the run is fine
    )

    split >> train >> registered >> evaluate >> promote
