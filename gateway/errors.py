"""One error type for every endpoint; each API family renders it in its own shape."""

from __future__ import annotations

import math

from fastapi import Request
from fastapi.responses import JSONResponse


class GatewayError(Exception):
    def __init__(self, status: int, code: str, message: str, *,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def render(request: Request, exc: GatewayError) -> JSONResponse:
    """DeepL: ``{"message"}``; LibreTranslate: ``{"error"}``; the jobs API: ``{"error": {…}}``."""
    path = request.url.path
    body: object
    if path.startswith("/v2/"):
        body = {"message": exc.message}
    elif path.startswith("/v1/"):
        body = {"error": {"code": exc.code, "message": exc.message}}
    else:
        body = {"error": exc.message}
    status = exc.status
    if status == 401 and not path.startswith("/v1/"):
        status = 403  # DeepL and LibreTranslate answer a missing key like a wrong one
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return JSONResponse(body, status_code=status, headers=headers)
