#!/usr/bin/env bash
# The GPU benchmark (bench/gpu.py): limit vs in-process scheduler + engine, batch-size sweep,
# fp32 vs bf16, on the opus-mt-en-de-shaped model. Needs only python3 with torch and
# transformers (no RabbitMQ, no pip install); finishes in under 5 minutes on one GPU.
#   bash bench/gpu.sh          # full run, prints the table
#   bash bench/gpu.sh --tiny   # a quick check of the script, also on a machine without CUDA
#   bash bench/gpu.sh --ct2    # also CTranslate2 float16 / int8_float16 rows (bench/ct2.py);
#                              # needs ctranslate2 installed there, adds up to ~3.5 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
# $PYTHON if set; else the machine's python3 when it has torch and transformers (a GPU box);
# else the project's virtualenv (a development machine).
python="${PYTHON:-}"
if [ -z "$python" ]; then
    if python3 -c "import torch, transformers" >/dev/null 2>&1; then
        python=python3
    elif [ -x .venv/bin/python ]; then
        python=.venv/bin/python
    else
        echo "bench/gpu.sh: no python with torch and transformers (set PYTHON=...)" >&2
        exit 2
    fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1 TOKENIZERS_PARALLELISM=false
args=()
ct2=0
for arg in "$@"; do
    if [ "$arg" = "--ct2" ]; then ct2=1; else args+=("$arg"); fi
done
if [ "$ct2" = 1 ]; then
    tiny=()
    for arg in "${args[@]}"; do [ "$arg" = "--tiny" ] && tiny=(--tiny); done
    timeout -k 15 "${MTQ_BENCH_CT2_GPU_TIMEOUT:-200}" "$python" -m bench.ct2 --gpu "${tiny[@]}" \
        || echo "bench.ct2 --gpu failed (exit $?)" >&2
fi
exec timeout -k 15 "${MTQ_BENCH_GPU_TIMEOUT:-290}" "$python" -m bench.gpu "${args[@]}"
