#!/usr/bin/env bash
# Create .venv and install mtq with its test tools. Safe to run again.
# A CPU build of torch is installed first when no torch is present, so that resolving the
# project's `torch` range does not pull a multi-GB CUDA build onto a CPU machine.
# Override with MTQ_TORCH_SPEC (e.g. "torch==2.13.0+cu126" on a GPU box).
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $("$python_bin" --version)"
    "$python_bin" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip

if ! python -c "import torch" >/dev/null 2>&1; then
    torch_spec="${MTQ_TORCH_SPEC:-torch==2.13.0}"
    echo "setup: installing $torch_spec (CPU build where available)"
    python -m pip install --quiet "$torch_spec"
fi

echo "setup: installing mtq and its test tools"
python -m pip install --quiet -e ".[test,ctranslate2,registry,gateway]"
