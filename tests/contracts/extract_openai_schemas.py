"""Regenerate openai_videos_schemas.json from OpenAI's published spec.

    python tests/contracts/extract_openai_schemas.py path/to/openai-openapi/openapi.json

Copies `VideoResource`, `VideoCharacterResource`, `ErrorResponse` and everything they reference,
unchanged, as JSON Schema `$defs` (refs rewritten from `#/components/schemas/X` to `#/$defs/X`).
What a self-hosted server widens is applied by the tests (tests/contracts/__init__.py), not here.
"""

import json
import sys
from pathlib import Path


ROOTS = ("VideoResource", "VideoCharacterResource", "ErrorResponse", "Error")
TARGET = Path(__file__).with_name("openai_videos_schemas.json")


def _refs(node) -> set[str]:
    found = set()
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _rewrite(node):
    if isinstance(node, dict):
        return {
            k: (v.replace("#/components/schemas/", "#/$defs/") if k == "$ref" else _rewrite(v)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


def extract(spec: dict) -> dict:
    schemas = spec["components"]["schemas"]
    wanted, todo = set(), list(ROOTS)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(_refs(schemas[name]))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": f"From openai/openai-openapi openapi.json {spec['info']['version']}, unchanged.",
        "$defs": {name: _rewrite(schemas[name]) for name in sorted(wanted)},
    }


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    TARGET.write_text(json.dumps(extract(spec), indent=1, sort_keys=True) + "\n")
    print(f"wrote {TARGET}")
