#!/usr/bin/env bash
# Tools the tests need beyond Python packages: kubectl (for `kubectl kustomize`) and Chromium.
set -euo pipefail
source "$(dirname "$0")/debian.sh"
install_missing tools kubectl kubernetes-client
# Chromium, headless: the gateway's test renders its offline /docs page in a real browser.
install_missing tools chromium chromium
