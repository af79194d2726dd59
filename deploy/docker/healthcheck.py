"""Docker HEALTHCHECK: exit 0 when this container's mtq process answers /healthz.

Kubernetes ignores HEALTHCHECK and uses the probes in deploy/keda; this is for `docker run`.
Standard library only, so it costs no import time.
"""

import os
import sys
import urllib.request

port = os.environ.get("MTQ_METRICS_PORT", "9000")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError:
    sys.exit(1)
