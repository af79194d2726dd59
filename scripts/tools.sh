#!/usr/bin/env bash
# Tools the deployment tests need beyond Python packages: kubectl (for `kubectl kustomize`).
set -euo pipefail
if ! command -v kubectl >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "tools: installing kubectl (Debian package kubernetes-client)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
    else
        echo "tools: kubectl is missing; install it (Debian: apt-get install kubernetes-client)" >&2
        exit 1
    fi
fi
