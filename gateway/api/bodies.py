"""Request bodies of the compatible APIs: JSON, or form fields (``text=a&text=b``)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from gateway.errors import GatewayError


class Fields:
    """The body's fields; a JSON list and a repeated form field read alike."""

    def __init__(self, values: dict[str, list[Any]]) -> None:
        self._values = values

    def all(self, name: str) -> list[str]:
        items = self._values.get(name, [])
        if not all(isinstance(item, str) for item in items):
            raise GatewayError(400, "invalid_request", f"'{name}' must be text")
        return [str(item) for item in items]

    def one(self, name: str) -> str | None:
        items = self.all(name)
        if len(items) > 1:
            raise GatewayError(400, "invalid_request", f"'{name}' must be given once")
        return items[0] if items else None

    def is_list(self, name: str) -> bool:
        return bool(self._values.get(f"{name}\0list"))


async def read_fields(request: Request) -> Fields:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        values: dict[str, list[Any]] = {}
        for key, value in form.multi_items():
            values.setdefault(key, []).append(value)
        return Fields(values)
    raw = await request.body()
    if not raw:
        return Fields({})
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GatewayError(400, "invalid_request", "the body is neither JSON nor a form") from exc
    if not isinstance(data, dict):
        raise GatewayError(400, "invalid_request", "the JSON body must be an object")
    values = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, list):
            values[key] = value
            values[f"{key}\0list"] = [True]
        else:
            values[key] = [value]
    return Fields(values)
