"""The conditions a record carries, with a reader for the inputs stored alongside it."""

from app.inputs.store import INPUTS_ATTEMPT
from app.storage import Storage
from workers.conditioning.conditions import Conditions


def record_conditions(storage: Storage, record: dict) -> dict:
    """`sample()` keyword arguments for the record's conditions (none for a plain render)."""
    conditions = Conditions.from_json(record.get("conditions"))
    if not conditions:
        return {}
    video_id = record["id"]
    return {
        "conditions": conditions,
        "read_input": lambda name: storage.read_bytes(video_id, INPUTS_ATTEMPT, name),
    }
