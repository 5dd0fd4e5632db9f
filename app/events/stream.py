"""A video's event stream in Redis: one capped stream per video, `t2v:events:<video id>`.

Entries are `type` (what happened) and `data` (a JSON object). They are appended where the record
changes and in the same round trip: the status transitions and the per-step progress are Lua
scripts in app/records.py that embed `APPEND_LUA`, the creation is one more command on the
creation's transaction. The stream entry id is the Server-Sent Events id, so a reconnect with
`Last-Event-ID` continues exactly after the last entry the client saw.

This module imports nothing from the record store or the HTTP layer; both import it.
"""

import json

from redis.client import Pipeline


# Event types, in the order a video meets them.
QUEUED = "queued"
EXPANDING = "expanding"
LOADING = "loading"
PROGRESS = "progress"
PREVIEW = "preview"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
FINAL_TYPES = frozenset({COMPLETED, FAILED, CANCELLED})

# Entries kept per video (trimmed approximately, which Redis does in whole nodes, cheaply). A 60 s
# video of twelve 50-step chunks makes about 700 entries with its previews.
MAX_ENTRIES = 4000
# The stream outlives its last entry by this long; a client that comes later gets the final event
# made from the record itself (app/events/sse.py), so this only bounds memory.
TTL_S = 24 * 3600

# A Lua function the record scripts share: append one entry, cap the stream, renew its expiry.
APPEND_LUA = """
local function append_event(key, max_entries, ttl, kind, data)
  redis.call('XADD', key, 'MAXLEN', '~', max_entries, '*', 'type', kind, 'data', data)
  redis.call('EXPIRE', key, ttl)
end
"""


def events_key(video_id: str) -> str:
    return f"t2v:events:{video_id}"


def encode(kind: str, data: dict) -> list:
    """An event as the record scripts take it (a JSON list of these is one argument)."""
    return [kind, json.dumps(data, separators=(",", ":"))]


def append(pipe: Pipeline, video_id: str, kind: str, data: dict) -> None:
    """Queue one event on `pipe` (a transaction that also writes the record, or alone)."""
    key = events_key(video_id)
    pipe.xadd(
        key, {"type": kind, "data": json.dumps(data, separators=(",", ":"))}, maxlen=MAX_ENTRIES, approximate=True
    )
    pipe.expire(key, TTL_S)


def expansion_data(record: dict) -> dict:
    """The `expanding` event of a finished expansion: what the sampler will be given, and how."""
    return {
        "done": True,
        "revised_prompt": record.get("revised_prompt"),
        "prompt_expansion": record.get("prompt_expansion"),
    }


def append_now(redis, video_id: str, kind: str, data: dict) -> None:
    """Append one event on its own (for changes that write no record field)."""
    with redis.pipeline(transaction=False) as pipe:
        append(pipe, video_id, kind, data)
        pipe.execute()
