"""LibreTranslate's ``POST /translate`` and ``GET /languages``.

``q`` is a string or a list (the answer has the same shape), ``format`` ``text`` or ``html``,
the key in ``api_key``; errors are ``{"error"}``. ``source: "auto"`` is refused: there is no
language detection.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from gateway.api.bodies import read_fields
from gateway.api.langs import libre_code, name_of, pairs, resolve
from gateway.api.models import LibreError, LibreLanguage, LibreTranslation
from gateway.errors import GatewayError
from gateway.service import Gateway

router = APIRouter(tags=["LibreTranslate-compatible"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": LibreError} for code in (400, 403, 413, 429, 503)}


class LibreRequest(BaseModel):
    q: str | list[str]
    source: str
    target: str
    format: Literal["text", "html"] = "text"
    api_key: str


_BODY = {"required": True, "content": {
    kind: {"schema": LibreRequest.model_json_schema()}
    for kind in ("application/json", "application/x-www-form-urlencoded")}}


@router.post("/translate", response_model=LibreTranslation, responses=_ERRORS,
             openapi_extra={"requestBody": _BODY}, summary="Translate (LibreTranslate)")
async def translate(request: Request) -> LibreTranslation:
    gateway: Gateway = request.app.state.gateway
    fields = await read_fields(request)
    tenant = await gateway.access.tenant(fields.one("api_key"))
    texts = fields.all("q")
    source, target = fields.one("source"), fields.one("target")
    if not texts or not source or not target:
        raise GatewayError(400, "invalid_request", "q, source and target are required")
    if source == "auto":
        raise GatewayError(400, "invalid_request", "source 'auto' is not supported: this "
                           "server does not detect languages")
    kind = fields.one("format") or "text"
    if kind not in ("text", "html"):
        raise GatewayError(400, "invalid_request", "format must be text or html")
    pair = resolve(gateway.routes, source, target)
    if pair is None:
        raise GatewayError(400, "unsupported_language_pair",
                           f"{source}-{target} is not a supported language pair")
    out = await gateway.translate(tenant, "libre", pair[0], pair[1], texts,
                                  {"markup": "html"} if kind == "html" else {})
    return LibreTranslation(translatedText=out if fields.is_list("q") else out[0])


@router.get("/languages", response_model=list[LibreLanguage],
            summary="Languages and their targets (LibreTranslate)")
async def languages(request: Request) -> list[LibreLanguage]:
    gateway: Gateway = request.app.state.gateway
    targets: dict[str, list[str]] = {}
    for source, target in pairs(gateway.routes):
        targets.setdefault(source, []).append(libre_code(target))
    return [LibreLanguage(code=libre_code(tag), name=name_of(tag), targets=found)
            for tag, found in targets.items()]
