"""A create's writes, sent as one script call: the record, its job, its indexes and first event.

The writes are made by the code that owns them (app/records.py, RQ's own enqueue, the event
stream) onto a `CommandList` that stands in for a pipeline, then run by `_COMMIT` in one atomic
call, which first checks the owner's unfinished videos against their limit: both exist or
neither does, concurrent creates cannot overshoot the limit, and the create costs one round trip
whether the caller is a thread (`commit`) or the event loop (`commit_async`).
"""

from hashlib import sha1

import orjson
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.commands.core import CoreCommands
from redis.exceptions import NoScriptError

from app.limits import too_many_active_videos
from app.records import owner_active_key


# KEYS[1] the owner's unfinished videos; ARGV[1] how many they may have (0: no limit); then each
# write as its word count followed by its words. `HSET_JSON key {"field": "value", ...}` is an HSET
# of string fields sent as one word (a record's ~40 fields cost the client one argument, not 80).
# Returns {1, the last write's answer} (the queue position lookup), or {0, unfinished videos} when
# the owner is at the limit and nothing was written. The record, job and index keys are named in
# the writes, not in KEYS: this runs on a single Redis (or a primary with replicas), not a cluster.
_COMMIT = """
local limit = tonumber(ARGV[1])
if limit > 0 then
  local active = redis.call('SCARD', KEYS[1])
  if active >= limit then return {0, active} end
end
local i, answer = 2, false
while i <= #ARGV do
  local words = tonumber(ARGV[i])
  if ARGV[i + 1] == 'HSET_JSON' then
    local pairs_flat = {}
    for field, value in pairs(cjson.decode(ARGV[i + 3])) do
      pairs_flat[#pairs_flat + 1] = field
      pairs_flat[#pairs_flat + 1] = value
    end
    answer = redis.call('HSET', ARGV[i + 2], unpack(pairs_flat))
  else
    answer = redis.call(unpack(ARGV, i + 1, i + words))
  end
  i = i + words + 1
end
return {1, answer}
"""
_COMMIT_SHA = sha1(_COMMIT.encode()).hexdigest()


class CommandList(CoreCommands):
    """Stands in for a transaction pipeline: keeps each command redis-py (or RQ) would send."""

    def __init__(self):
        self.commands: list[tuple] = []

    def execute_command(self, *args, **options):
        self.commands.append(args)
        return self

    def hset(self, name, key=None, value=None, mapping=None, items=None):
        if key is None and items is None and mapping and all(isinstance(v, str) for v in mapping.values()):
            # Strings survive a JSON round trip exactly (cjson included): one word for the script.
            return self.execute_command("HSET_JSON", name, orjson.dumps(mapping))
        return super().hset(name, key, value, mapping, items)


def _arguments(owner: str, active_limit: int, writes: CommandList) -> list:
    args: list = [active_limit]
    for command in writes.commands:
        args.append(len(command))
        args.extend(command)
    return [owner_active_key(owner), *args]


def _answer(reply: list, active_limit: int):
    accepted, value = reply
    if not accepted:
        raise too_many_active_videos(int(value), active_limit)
    return value


def commit(redis: Redis, owner: str, active_limit: int, writes: CommandList):
    """Run `writes` unless `owner` has `active_limit` unfinished videos (0: no limit); returns the
    answer of the last write, or raises RateLimited."""
    key, *args = _arguments(owner, active_limit, writes)
    try:
        reply = redis.evalsha(_COMMIT_SHA, 1, key, *args)
    except NoScriptError:  # a restarted or failed-over Redis forgot the script
        reply = redis.eval(_COMMIT, 1, key, *args)
    return _answer(reply, active_limit)


async def commit_async(redis: AsyncRedis, owner: str, active_limit: int, writes: CommandList):
    """`commit` from the event loop."""
    key, *args = _arguments(owner, active_limit, writes)
    try:
        reply = await redis.evalsha(_COMMIT_SHA, 1, key, *args)
    except NoScriptError:
        reply = await redis.eval(_COMMIT, 1, key, *args)
    return _answer(reply, active_limit)
