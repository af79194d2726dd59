# syntax=docker/dockerfile:1
# mtq image: `mtq worker` (GPU), `mtq dispatcher`, `mtq topology` (CPU). See docs/deploy.md.
#
#   docker build -t mtq:cuda .                                     # model mounted at run time
#   docker build -t mtq:cuda --build-arg MODEL=Helsinki-NLP/opus-mt-en-de .   # model baked in
#   docker build -t mtq:cpu --build-arg TORCH_INDEX_URL=<PyTorch's CPU wheel index> .
#   docker build -t mtq:tiny --build-arg MODEL_SOURCE=tiny .   # mtq's tiny test model baked in
#
# The base is NVIDIA's CUDA image (driver capabilities for the container toolkit, a CUDA
# version check against the node's driver). Its `base` flavour suffices: the CUDA build of
# torch (PyPI's Linux wheel; torch 2.13 is built for CUDA 13.0, driver >= 580) brings its
# own CUDA libraries (cuBLAS, cuDNN, ...) as wheels, which the `runtime` flavour would ship
# a second time. Older drivers: build torch for CUDA 12 from PyTorch's cu126 wheel index,
#   --build-arg TORCH_INDEX_URL=<that index> --build-arg CUDA_IMAGE=nvidia/cuda:12.6.3-base-ubuntu22.04
# For the ctranslate2 engine (EXTRAS=ctranslate2), which links the system's cuBLAS and
# cuDNN, use a `cudnn-runtime` CUDA image instead.
ARG CUDA_IMAGE=nvidia/cuda:13.0.0-base-ubuntu22.04
# Where the model comes from: `hub` (MODEL, or nothing for a mounted model) or `tiny`.
ARG MODEL_SOURCE=hub

FROM ${CUDA_IMAGE} AS python
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Ubuntu's security updates replace package versions, so exact pins would break the build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/*

# Dependencies only: this stage (several GB, mostly torch) is rebuilt when pyproject.toml
# changes, not when the code does.
FROM python AS deps
# The torch the tests run with; transformers 5 needs >= 2.6.
ARG TORCH_VERSION=2.13.0
# Empty: pip's default index.
ARG TORCH_INDEX_URL=""
# gateway: the HTTP gateway's packages (FastAPI, uvicorn; small), so one image runs every part.
ARG EXTRAS="gateway"
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN if [ -n "${TORCH_INDEX_URL}" ]; then export PIP_INDEX_URL="${TORCH_INDEX_URL}"; fi \
    && pip install --no-cache-dir "torch==${TORCH_VERSION}"
WORKDIR /src
COPY pyproject.toml ./
RUN python -c 'import os, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
extras = [e for e in os.environ.get("EXTRAS", "").split(",") if e]; \
print("\n".join(p["dependencies"] + [d for e in extras for d in p["optional-dependencies"][e]]))' \
    > /tmp/requirements.txt \
    && pip install --no-cache-dir --requirement /tmp/requirements.txt

# The project itself, as a wheel.
FROM deps AS wheel
COPY README.md ./
COPY mtq ./mtq
COPY worker ./worker
COPY webhooks ./webhooks
COPY gateway ./gateway
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# The model, in a stage of its own so that code changes never re-download it.
# MODEL="" leaves /opt/mtq/model empty for a volume; a Hugging Face id bakes that snapshot in.
FROM deps AS model-hub
ARG MODEL=""
ARG MODEL_REVISION=""
RUN mkdir -p /opt/mtq/model \
    && if [ -n "${MODEL}" ]; then \
        python -c 'import os; from huggingface_hub import snapshot_download; \
snapshot_download(os.environ["MODEL"], revision=os.environ["MODEL_REVISION"] or None, \
local_dir="/opt/mtq/model")' \
        && rm -rf /opt/mtq/model/.cache; \
    fi

# MODEL_SOURCE=tiny: mtq's own tiny test model instead (smoke tests, no download).
FROM deps AS model-tiny
RUN --mount=type=bind,from=wheel,source=/dist,target=/dist \
    pip install --no-cache-dir --no-deps /dist/*.whl \
    && mtq tiny-model /opt/mtq/model

# A stage of this file, not an image (hadolint cannot tell once the name has a variable).
# hadolint ignore=DL3006
FROM model-${MODEL_SOURCE} AS model

FROM python AS runtime
RUN groupadd --system --gid 10001 mtq \
    && useradd --system --uid 10001 --gid mtq --no-create-home --home-dir /tmp mtq
# Largest and least often changed first: dependencies, then the model, then mtq itself.
COPY --from=deps /opt/venv /opt/venv
COPY --from=model /opt/mtq/model /opt/mtq/model
COPY deploy/docker/healthcheck.py /opt/mtq/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH \
    MTQ_MODEL=/opt/mtq/model \
    MTQ_METRICS_PORT=9000 \
    HF_HUB_OFFLINE=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    HF_HOME=/tmp/.cache/huggingface
RUN --mount=type=bind,from=wheel,source=/dist,target=/dist \
    pip install --no-cache-dir --no-deps /dist/*.whl
# Only /tmp needs to be writable (Kubernetes mounts an emptyDir there).
USER 10001:10001
WORKDIR /tmp
EXPOSE 9000
# The start period covers loading a large model.
HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 \
    CMD ["python", "/opt/mtq/healthcheck.py"]
ENTRYPOINT ["mtq"]
CMD ["worker"]
