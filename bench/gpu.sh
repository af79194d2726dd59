#!/usr/bin/env bash
# The GPU benchmark (`python -m bench gpu`, bench/gpu.py): limit vs in-process scheduler +
# engine, batch-size sweep, fp32 vs bf16, on the opus-mt-en-de-shaped model. Needs only python3
# with torch and transformers (no RabbitMQ, no pip install); under 5 minutes on one GPU.
#   bash bench/gpu.sh          # full run, prints the table
#   bash bench/gpu.sh --tiny   # a quick check of the script, also on a machine without CUDA
#   bash bench/gpu.sh --ct2    # then CTranslate2 float16 / int8_float16 rows (bench/ct2/gpu.py);
#                              # needs ctranslate2 installed there, adds up to ~3.5 minutes
# Other arguments go to `python -m bench gpu` (--help lists them).
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
# The whole run stays under the outer timeout: about 5 minutes, 3.5 more with --ct2.
limit="${MTQ_BENCH_GPU_TIMEOUT:-290}"
for arg in "$@"; do
    if [ "$arg" = "--ct2" ]; then limit=$((limit + ${MTQ_BENCH_CT2_GPU_TIMEOUT:-200})); fi
done
exec timeout -k 15 "$limit" "$python" -m bench gpu "$@"
