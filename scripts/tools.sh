#!/usr/bin/env bash
# Tools the deployment tests need beyond Python packages: kubectl (for `kubectl kustomize`).
set -euo pipefail
source "$(dirname "$0")/debian.sh"
install_missing tools kubectl kubernetes-client
