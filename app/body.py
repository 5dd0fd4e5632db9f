"""Read a create body from `multipart/form-data` (what the openai SDK sends) or JSON.

The SDK flattens nested objects into bracketed form names (`input_reference[image_url]`);
those are folded back into dicts so validation sees the structure the caller meant.
"""

import json
import re

from fastapi import Request
from starlette.datastructures import UploadFile

from app.errors import InvalidRequest


BRACKETED = re.compile(r"^([^\[\]]+)\[([^\[\]]*)\]$")


def _fold_brackets(items: list[tuple[str, object]]) -> dict:
    body: dict = {}
    for name, value in items:
        match = BRACKETED.match(name)
        if match and not match[2]:
            # `name[]` is how the SDK sends a list: one field per item.
            body.setdefault(match[1], [])
            if isinstance(body[match[1]], list):
                body[match[1]].append(value)
        elif match:
            body.setdefault(match[1], {})
            if isinstance(body[match[1]], dict):
                body[match[1]][match[2]] = value
        elif name in body:
            # A field given more than once is a list; validation refuses it where one value is meant.
            previous = body[name]
            body[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            body[name] = value
    return body


async def read_body(request: Request) -> dict:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidRequest(f"request body is not valid JSON: {exc}", code="invalid_json") from None
        if not isinstance(body, dict):
            raise InvalidRequest("request body must be a JSON object", code="invalid_json")
        return body
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.form()
        except Exception as exc:  # python-multipart raises several unrelated types
            raise InvalidRequest(f"malformed {content_type} body: {exc}", code="invalid_body") from None
        items = [(k, v) for k, v in form.multi_items()]
        body = _fold_brackets(items)
        if any(isinstance(v, UploadFile) for _, v in items) or isinstance(body.get("input_reference"), dict):
            body["input_reference"] = body.get("input_reference") or "file"
        return body
    raise InvalidRequest(
        f"unsupported content type {content_type or '(none)'}; send multipart/form-data or application/json",
        code="unsupported_media_type",
    )
