"""The video record: the source of truth for a video, kept in Redis.

One hash per video (`t2v:video:<id>`), each field a JSON value. Every status change goes through
a Lua script that checks the current status first, so a terminal status never changes again and
a duplicate or late worker cannot overwrite what another one finished.

Indexes: a sorted set of ids per owner by creation time (listing) and a set of active ids
(queued or in progress) that the reconciliation sweep walks.
"""

import json
import re
import secrets
import time
from collections.abc import Iterable

import orjson
from redis import Redis
from redis.client import Pipeline

from app.events import stream as events
from app.status import ACTIVE, TERMINAL, VideoStatus


VIDEO_ID_RE = re.compile(r"^video_[0-9a-f]{32}$")
ACTIVE_SET = "t2v:videos:active"
# Videos by final status, counted where the terminal transition happens (for /metrics).
FINAL_COUNTS = "t2v:metrics:final_status"
# Video ids by `expires_at`, for the retention clean-up.
EXPIRY_INDEX = "t2v:videos:expiry"
# Ids of expired videos by when their records are deleted too.
FORGET_INDEX = "t2v:videos:forget"


def new_video_id() -> str:
    return f"video_{secrets.token_hex(16)}"


def is_video_id(value: str) -> bool:
    return bool(VIDEO_ID_RE.match(value))


def record_key(video_id: str) -> str:
    return f"t2v:video:{video_id}"


def owner_index_key(owner: str) -> str:
    return f"t2v:owner:{owner}:videos"


def owner_active_key(owner: str) -> str:
    """Unfinished videos of one owner (the concurrency limit counts these)."""
    return f"t2v:owner:{owner}:active"


# KEYS[1] record, KEYS[2] active set; ARGV[1] JSON list of allowed current statuses (empty: any
# non-terminal), ARGV[2] JSON object of fields to set, ARGV[3] required owning worker ("" = any),
# ARGV[4] 1 to increment `attempts`. Returns the new status, or false when the guard refused.
# A status change appends its event to KEYS[4] (ARGV[6] entries kept, ARGV[7] expiry): the event
# can't be lost between the change and its announcement.
_TRANSITION = (
    events.APPEND_LUA
    + """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
current = cjson.decode(current)
local allowed = cjson.decode(ARGV[1])
local ok = false
if #allowed == 0 then
  ok = (current == 'queued' or current == 'in_progress')
else
  for _, s in ipairs(allowed) do if s == current then ok = true end end
end
if not ok then return false end
if ARGV[3] ~= '' then
  local worker = redis.call('HGET', KEYS[1], 'worker')
  if not worker or cjson.decode(worker) ~= ARGV[3] then return false end
end
local fields = cjson.decode(ARGV[2])
for k, v in pairs(fields) do redis.call('HSET', KEYS[1], k, v) end
if ARGV[4] == '1' then
  local n = redis.call('HGET', KEYS[1], 'attempts')
  n = (n and tonumber(n) or 0) + 1
  redis.call('HSET', KEYS[1], 'attempts', tostring(n))
end
local status = cjson.decode(redis.call('HGET', KEYS[1], 'status'))
local function terminal(s) return s == 'completed' or s == 'failed' or s == 'cancelled' end
if terminal(status) and not terminal(current) then
  redis.call('SREM', KEYS[2], ARGV[5])
  redis.call('HINCRBY', KEYS[3], status, 1)
  local owner = redis.call('HGET', KEYS[1], 'owner')
  if owner then redis.call('SREM', 't2v:owner:' .. cjson.decode(owner) .. ':active', ARGV[5]) end
end
if status ~= current then
  local kind = status
  if status == 'in_progress' then kind = 'loading' end
  append_event(KEYS[4], ARGV[6], ARGV[7], kind, cjson.encode({status = status}))
end
return status
"""
)

# Progress only moves forward and only while in progress. The step's events (ARGV[2], a JSON list
# of [type, data]) go to KEYS[2] in the same call: a step stays one round trip.
_PROGRESS = (
    events.APPEND_LUA
    + """
local current = redis.call('HGET', KEYS[1], 'status')
if not current or cjson.decode(current) ~= 'in_progress' then return 0 end
local p = tonumber(redis.call('HGET', KEYS[1], 'progress') or '0')
if tonumber(ARGV[1]) > p then redis.call('HSET', KEYS[1], 'progress', ARGV[1]) end
for _, event in ipairs(cjson.decode(ARGV[2])) do
  append_event(KEYS[2], ARGV[3], ARGV[4], event[1], event[2])
end
return 1
"""
)


def _json(value) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what orjson refuses (a lone surrogate, an int past 64 bits) json spells out
        return json.dumps(value)


def _encode(fields: dict) -> dict[str, str]:
    # Values are JSON so that lists, dicts, numbers and null survive the trip through a hash.
    return {k: _json(v) for k, v in fields.items()}


class RecordStore:
    def __init__(self, redis: Redis):
        self.redis = redis
        self._transition = redis.register_script(_TRANSITION)
        self._progress = redis.register_script(_PROGRESS)

    def create(self, record: dict, pipe: Pipeline) -> None:
        """Queue the writes of a new record on `pipe` (the caller adds its job and executes)."""
        video_id = record["id"]
        pipe.hset(record_key(video_id), mapping=_encode(record))
        pipe.zadd(owner_index_key(record["owner"]), {video_id: record["created_at_ms"]})
        pipe.sadd(ACTIVE_SET, video_id)
        pipe.sadd(owner_active_key(record["owner"]), video_id)
        if record.get("expires_at"):
            pipe.zadd(EXPIRY_INDEX, {video_id: record["expires_at"]})
        events.append(pipe, video_id, events.QUEUED, {"status": record["status"], "stage": record.get("stage")})
        if record.get("prompt_expansion") not in (None, "off", "pending"):
            # Rewritten while the video was made (the embedded model's offline expander).
            events.append(pipe, video_id, events.EXPANDING, events.expansion_data(record))

    def get(self, video_id: str) -> dict | None:
        raw = self.redis.hgetall(record_key(video_id))
        if not raw:
            return None
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def get_many(self, video_ids: Iterable[str]) -> list[dict]:
        ids = list(video_ids)
        with self.redis.pipeline(transaction=False) as pipe:
            for video_id in ids:
                pipe.hgetall(record_key(video_id))
            rows = pipe.execute()
        return [{k.decode(): json.loads(v) for k, v in row.items()} for row in rows if row]

    def status(self, video_id: str) -> VideoStatus | None:
        raw = self.redis.hget(record_key(video_id), "status")
        return VideoStatus(json.loads(raw)) if raw else None

    def transition(
        self,
        video_id: str,
        fields: dict,
        *,
        allowed_from: Iterable[VideoStatus] = (),
        worker: str = "",
        count_attempt: bool = False,
    ) -> VideoStatus | None:
        """Set `fields` if the current status is in `allowed_from` (default: any active one).

        Returns the status after the change, or None when the guard refused it.
        """
        result = self._transition(
            keys=[record_key(video_id), ACTIVE_SET, FINAL_COUNTS, events.events_key(video_id)],
            args=[
                json.dumps([str(s) for s in allowed_from]),
                json.dumps(_encode(fields)),
                worker,
                "1" if count_attempt else "0",
                video_id,
                events.MAX_ENTRIES,
                events.TTL_S,
            ],
        )
        return VideoStatus(result.decode()) if result else None

    def set_progress(self, video_id: str, progress: int, step_events: Iterable[list] = ()) -> bool:
        """Raise the progress and append `step_events` (made with `events.encode`); False when the
        video is no longer in progress (cancelled, gone)."""
        keys, args = self._progress_arguments(video_id, progress, step_events)
        return bool(self._progress(keys=keys, args=args))

    def progress_command(self, video_id: str, progress: int, step_events: Iterable[list] = ()) -> tuple:
        """`set_progress` as the words of one EVALSHA, for a caller that sends it itself (its
        answer is 1 while the video is in progress); `load_scripts` first."""
        keys, args = self._progress_arguments(video_id, progress, step_events)
        return ("EVALSHA", self._progress.sha, len(keys), *keys, *args)

    def load_scripts(self) -> None:
        self.redis.script_load(_PROGRESS)

    @staticmethod
    def _progress_arguments(video_id: str, progress: int, step_events: Iterable[list]) -> tuple[list, list]:
        keys = [record_key(video_id), events.events_key(video_id)]
        return keys, [int(progress), json.dumps(list(step_events)), events.MAX_ENTRIES, events.TTL_S]

    def update(self, video_id: str, fields: dict) -> None:
        """Unconditional write of non-status fields (timings, expansion results)."""
        assert "status" not in fields, "status changes go through transition()"
        if self.redis.exists(record_key(video_id)):
            self.redis.hset(record_key(video_id), mapping=_encode(fields))

    def delete(self, video_id: str, owner: str) -> None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(record_key(video_id))
            pipe.zrem(owner_index_key(owner), video_id)
            pipe.srem(ACTIVE_SET, video_id)
            pipe.srem(owner_active_key(owner), video_id)
            pipe.zrem(EXPIRY_INDEX, video_id)
            pipe.zrem(FORGET_INDEX, video_id)
            pipe.delete(events.events_key(video_id))
            pipe.execute()

    def due_for_expiry(self, now: float, batch: int = 500) -> list[str]:
        return [v.decode() for v in self.redis.zrangebyscore(EXPIRY_INDEX, 0, now, start=0, num=batch)]

    def mark_expired(self, video_id: str) -> None:
        """Files gone, record kept (until its `forget_at`, when it has one)."""
        forget_at = self.redis.hget(record_key(video_id), "forget_at")
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(EXPIRY_INDEX, video_id)
            if self.redis.exists(record_key(video_id)):
                pipe.hset(record_key(video_id), "expired", "true")
                if forget_at is not None and json.loads(forget_at) is not None:
                    pipe.zadd(FORGET_INDEX, {video_id: json.loads(forget_at)})
            pipe.execute()

    def forget_expired(self, now: float, batch: int = 500) -> list[str]:
        """Delete the records of expired videos whose time is up: the id then answers 404."""
        forgotten = []
        for raw in self.redis.zrangebyscore(FORGET_INDEX, 0, now, start=0, num=batch):
            video_id = raw.decode()
            owner = self.redis.hget(record_key(video_id), "owner")
            if owner is None:
                self.redis.zrem(FORGET_INDEX, video_id)
                continue
            self.delete(video_id, json.loads(owner))
            forgotten.append(video_id)
        return forgotten

    def active_count(self, owner: str) -> int:
        return self.redis.scard(owner_active_key(owner))

    def active_ids(self) -> list[str]:
        return [v.decode() for v in self.redis.smembers(ACTIVE_SET)]

    def page(self, owner: str, *, after: str | None, limit: int, descending: bool) -> tuple[list[str], bool]:
        """Ids after the cursor in creation order, and whether more follow."""
        key = owner_index_key(owner)
        start = 0
        if after:
            rank = self.redis.zrevrank(key, after) if descending else self.redis.zrank(key, after)
            if rank is None:
                return [], False
            start = rank + 1
        fetch = self.redis.zrevrange if descending else self.redis.zrange
        ids = [v.decode() for v in fetch(key, start, start + limit)]
        return ids[:limit], len(ids) > limit


def now_ms() -> int:
    return int(time.time() * 1000)


__all__ = ["ACTIVE", "TERMINAL", "RecordStore", "VideoStatus", "is_video_id", "new_video_id", "now_ms"]
