"""A DeepL API v2 subset: ``POST /v2/translate`` and ``GET /v2/languages``.

Auth is the ``Authorization: DeepL-Auth-Key KEY`` header; errors are DeepL's ``{"message"}``
with its status codes (400, 403, 413, 429, 503). ``glossary_id`` names a glossary stored
with ``mtq glossary create`` for the key's tenant. ``source_lang`` is required: there is no
language detection, and a request without it gets a 400 that says so.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from gateway.api.bodies import read_fields
from gateway.api.langs import deepl_code, name_of, pairs, resolve
from gateway.api.models import DeeplError, DeeplLanguage, DeeplText, DeeplTranslations
from gateway.errors import GatewayError
from gateway.service import Gateway

router = APIRouter(prefix="/v2", tags=["DeepL-compatible"])
_SCHEME = "deepl-auth-key "
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": DeeplError} for code in (400, 403, 413, 429, 503)}


class DeeplRequest(BaseModel):
    text: list[str]
    source_lang: str
    target_lang: str
    tag_handling: Literal["html", "xml"] | None = None
    glossary_id: str | None = None


_BODY = {"required": True, "content": {
    kind: {"schema": DeeplRequest.model_json_schema()}
    for kind in ("application/json", "application/x-www-form-urlencoded")}}


async def deepl_tenant(request: Request) -> str:
    header = request.headers.get("authorization", "")
    key = header[len(_SCHEME):].strip() if header.lower().startswith(_SCHEME) else None
    gateway: Gateway = request.app.state.gateway
    return await gateway.access.tenant(key)


@router.post("/translate", response_model=DeeplTranslations, responses=_ERRORS,
             openapi_extra={"requestBody": _BODY},
             summary="Translate texts (DeepL API v2 subset)")
async def translate(request: Request) -> DeeplTranslations:
    tenant = await deepl_tenant(request)
    fields = await read_fields(request)
    texts = fields.all("text")
    if not texts:
        raise GatewayError(400, "invalid_request", "Parameter 'text' not specified.")
    target = fields.one("target_lang")
    if not target:
        raise GatewayError(400, "invalid_request", "Value for 'target_lang' not specified.")
    source = fields.one("source_lang")
    if not source:
        raise GatewayError(400, "invalid_request", "Value for 'source_lang' not specified: "
                           "this server does not detect languages")
    tag_handling = fields.one("tag_handling")
    if tag_handling not in (None, "html", "xml"):
        raise GatewayError(400, "invalid_request", "Value for 'tag_handling' not supported.")
    gateway: Gateway = request.app.state.gateway
    pair = resolve(gateway.routes, source, target)
    if pair is None:
        raise GatewayError(400, "unsupported_language_pair",
                           f"Language pair {source}-{target} not supported.")
    options: dict[str, object] = {"markup": tag_handling} if tag_handling else {}
    glossary = fields.one("glossary_id")
    if glossary:  # a glossary stored with `mtq glossary create` for the key's tenant
        options["glossary_id"] = glossary
    out = await gateway.translate(tenant, "deepl", pair[0], pair[1], texts, options)
    code = deepl_code(pair[0])
    return DeeplTranslations(translations=[
        DeeplText(detected_source_language=code, text=text, billed_characters=len(source_text))
        for text, source_text in zip(out, texts, strict=True)])


@router.get("/languages", response_model=list[DeeplLanguage], responses=_ERRORS,
            summary="Source or target languages (DeepL API v2 subset)")
async def languages(request: Request,
                    type: Literal["source", "target"] = Query("source")) -> list[DeeplLanguage]:
    await deepl_tenant(request)
    # DeepL's clients send ``type`` as a form body, even on a GET.
    kind = (await read_fields(request)).one("type") or type
    if kind not in ("source", "target"):
        raise GatewayError(400, "invalid_request", "Value for 'type' not supported.")
    gateway: Gateway = request.app.state.gateway
    served = pairs(gateway.routes)
    tags = dict.fromkeys(s if kind == "source" else t for s, t in served)
    formality = False if kind == "target" else None
    return [DeeplLanguage(language=deepl_code(tag), name=name_of(tag),
                          supports_formality=formality) for tag in tags]
