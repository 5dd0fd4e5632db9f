"""OpenAI's published JSON schemas for the Videos API (openai_videos_schemas.json, extracted
unchanged by extract_openai_schemas.py) and a validator with only the widenings a self-hosted
server necessarily makes (shared/reference: `size` beyond Sora's four, `status` adds `cancelled`;
`model` is already any string in the spec)."""

import copy
import json
from pathlib import Path

from jsonschema import Draft202012Validator


PUBLISHED = json.loads(Path(__file__).with_name("openai_videos_schemas.json").read_text())


def _widened() -> dict:
    schemas = copy.deepcopy(PUBLISHED)
    defs = schemas["$defs"]
    defs["VideoSize"] = {"type": "string", "pattern": r"^[0-9]+x[0-9]+$"}
    defs["VideoStatus"]["enum"] = [*defs["VideoStatus"]["enum"], "cancelled"]
    return schemas


SCHEMAS = _widened()


def validate(name: str, instance: dict) -> None:
    """Raise jsonschema.ValidationError unless `instance` is a valid OpenAI `name`."""
    schema = {**SCHEMAS, "$ref": f"#/$defs/{name}"}
    Draft202012Validator(schema).validate(instance)
