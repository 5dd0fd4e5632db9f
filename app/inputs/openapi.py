"""Request bodies of the image and video routes, for the OpenAPI document (the routes read
their bodies themselves: multipart with files, or JSON)."""

_VIDEO_REF = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
_STRENGTH = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": 1,
    "description": "Our extension: how much of the source is re-drawn (default: the model's default_strength).",
}
_PROMPT = {"type": "string", "minLength": 1}


def _body(multipart: dict, json: dict, required: list[str]) -> dict:
    def schema(properties):
        return {"type": "object", "required": required, "properties": properties}

    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": schema(multipart)},
                "application/json": {"schema": schema(json)},
            },
        }
    }


REMIX = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["prompt"],
                    "properties": {"prompt": _PROMPT, "strength": _STRENGTH},
                }
            }
        },
    }
}
EDITS = _body(
    {
        "prompt": _PROMPT,
        "video": {"type": "string", "format": "binary"},
        "model": {"type": "string"},
        "strength": _STRENGTH,
    },
    {"prompt": _PROMPT, "video": _VIDEO_REF, "strength": _STRENGTH},
    ["prompt", "video"],
)
CHARACTERS = _body(
    {"name": {"type": "string", "minLength": 1, "maxLength": 80}, "video": {"type": "string", "format": "binary"}},
    {"name": {"type": "string", "minLength": 1, "maxLength": 80}, "video": _VIDEO_REF},
    ["name", "video"],
)
