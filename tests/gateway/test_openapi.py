"""The OpenAPI schema exercised by schemathesis (no 5xx, every response as documented), and
the docs page rendered by a real headless Chromium that may reach no host but the gateway."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.gateway.conftest import Stack

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def test_every_operation_answers_as_documented(stack: Stack) -> None:
    api = schemathesis.openapi.from_url(stack.base_url + "/openapi.json")
    key = stack.keys["acme"]
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) == 8
    for operation in operations:
        scheme = "DeepL-Auth-Key" if operation.path.startswith("/v2/") else "Bearer"
        exercise(operation, {"Authorization": f"{scheme} {key}"}, key)


def exercise(operation: Any, headers: dict[str, str], key: str) -> None:
    """A few generated requests to one operation, each response checked against the schema."""

    @given(case=operation.as_strategy())
    @settings(max_examples=8, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        if case.path == "/translate" and isinstance(case.body, dict):
            case.body["api_key"] = key
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)

    check()


def test_the_docs_page_loads_only_local_assets(stack: Stack) -> None:
    with urllib.request.urlopen(stack.base_url + "/docs", timeout=10) as response:
        html = response.read().decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    for asset in assets:
        with urllib.request.urlopen(stack.base_url + asset, timeout=10) as response:
            assert response.status == 200, asset


def test_the_docs_page_renders_offline_in_a_headless_browser(stack: Stack, tmp_path: Any) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Chromium is missing: scripts/tools.sh installs it"
    # Every host name but the gateway's loopback address fails to resolve: no CDN can help.
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path}", "--host-resolver-rules=MAP * ~NOTFOUND, "
         "EXCLUDE 127.0.0.1", "--virtual-time-budget=15000", "--dump-dom",
         stack.base_url + "/docs"],
        capture_output=True, text=True, timeout=90, check=True).stdout
    # Swagger UI drew the operations from /openapi.json: its script ran and fetched the schema.
    assert 'class="swagger-ui' in dom
    for summary in ("Submit a job (idempotent on job_id per tenant)",
                    "Translate texts (DeepL API v2 subset)", "Translate (LibreTranslate)"):
        assert summary in dom
