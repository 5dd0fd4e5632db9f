"""A video's events as Server-Sent Events, read from its Redis stream with blocking reads.

Each connection is one async generator on the API's event loop: it blocks in XREAD (on a
connection of an async pool, so no thread waits), sends what arrived, and stops after the final
event. Nothing is buffered beyond one read of `EVENTS_PER_READ` entries, and the response sends
with a timeout, so a slow client holds one connection and a few kilobytes, never a growing queue.
A client that goes away cancels the generator mid-read; redis-py then drops that connection, so
no reader stays blocked on the server.

Events are sent as `id: <stream entry id>`, `event: <type>`, `data: <JSON>`. Some facts are added
when an event is sent rather than stored: the queue position of a `queued` video (it changes with
every job a worker takes) and the whole video object of a final event (the record as it is).
While a video waits, its position is sent again whenever it changes, without an id (a reconnect
resumes after the last stored event).
"""

import json
import re
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlsplit

import anyio
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.sentinel import Sentinel
from rq import Queue
from sse_starlette import ServerSentEvent

from app.events import stream
from app.events.slots import StreamSlot
from app.queueing import current_job
from app.records import record_key
from app.redis_address import DEFAULT_URL, redis_url
from app.redis_conn import sentinel_addresses
from app.schemas import video_object
from app.settings import Settings
from app.status import VideoStatus


# How long one read blocks before the record is looked at again (queue position, deletion).
BLOCK_MS = 5000
EVENTS_PER_READ = 100
# Comment lines that keep proxies and clients from calling an idle stream dead.
KEEP_ALIVE_S = 15
# A client that takes longer than this to accept one event is dropped.
SEND_TIMEOUT_S = 30
STREAM_ID_RE = re.compile(r"^\d{1,20}-\d{1,20}$")


def async_redis(settings: Settings) -> AsyncRedis:
    """The event streams' own pool: async, with room for a read that blocks `BLOCK_MS`."""
    timeouts = {"socket_connect_timeout": 2, "socket_timeout": BLOCK_MS / 1000 + 5}
    if not settings.redis_sentinels:
        # The same server as every other connection: T2V_REDIS_URL, else the one `t2v up` recorded.
        return AsyncRedis.from_url(redis_url(settings), **timeouts)
    # As app/redis_conn.py does for the other connections: the sentinels name the primary, the
    # URL only lends its credentials and database number.
    parts = urlsplit(settings.redis_url or DEFAULT_URL)
    sentinel = Sentinel(sentinel_addresses(settings.redis_sentinels), sentinel_kwargs={"socket_timeout": 2})
    return sentinel.master_for(
        settings.redis_sentinel_service,
        db=int(parts.path.strip("/") or 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        **timeouts,
    )


async def read_record(redis: AsyncRedis, video_id: str) -> dict | None:
    raw = await redis.hgetall(record_key(video_id))
    return {k.decode(): json.loads(v) for k, v in raw.items()} if raw else None


async def queue_position(redis: AsyncRedis, record: dict) -> int | None:
    """Where a queued video's job stands (1: next), as app/queue_position.py computes it."""
    if record.get("status") != VideoStatus.QUEUED.value:
        return None
    job_id, queue_name = current_job(record)
    index = await redis.lpos(Queue.redis_queue_namespace_prefix + queue_name, job_id)
    return None if index is None else index + 1


def _event(kind: str, data: dict, event_id: str | None) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps({"type": kind, **data}, separators=(",", ":")), event=kind, id=event_id)


async def _complete(redis: AsyncRedis, video_id: str, kind: str, data: dict) -> dict:
    """Add what is read at send time: the queue position, or the final video object."""
    if kind == stream.QUEUED:
        record = await read_record(redis, video_id)
        return {**data, "queue_position": await queue_position(redis, record) if record else None}
    if kind in stream.FINAL_TYPES:
        record = await read_record(redis, video_id)
        if record is not None:
            return {**data, "video": video_object({**record, "queue_position": None})}
    return data


async def events(
    redis: AsyncRedis, video_id: str, after: str | None, slot: StreamSlot, first: dict
) -> AsyncIterator[ServerSentEvent]:
    """The video's events after stream entry `after` (all of them when None), until the final one.

    `first` is the record as the route saw it; `slot` (the tenant's stream lease) is renewed while
    this runs and given back when it ends, however it ends.
    """
    key = stream.events_key(video_id)
    last = after or "0-0"
    finished = VideoStatus(first["status"]).is_terminal()
    position = None
    try:
        while True:
            # Once the video is known to be finished nothing more will come: don't wait for it.
            reply = await redis.xread({key: last}, count=EVENTS_PER_READ, block=None if finished else BLOCK_MS)
            await slot.renew()
            if reply:
                for entry_id, fields in reply[0][1]:
                    last = entry_id.decode()
                    kind = fields[b"type"].decode()
                    data = await _complete(redis, video_id, kind, json.loads(fields[b"data"]))
                    if kind == stream.QUEUED:
                        position = data.get("queue_position")
                    yield _event(kind, data, last)
                    if kind in stream.FINAL_TYPES:
                        return
                continue
            record = await read_record(redis, video_id)
            if record is None:
                return  # deleted (its `cancelled` event went first, to anyone still reading)
            status = VideoStatus(record["status"])
            if status.is_terminal():
                if finished:
                    # The stored events are gone (expired or trimmed): the record says how it ended.
                    yield _event(str(status), {"status": str(status), "video": video_object(record)}, None)
                    return
                finished = True  # read once more without blocking: the final event may be there
            elif status == VideoStatus.QUEUED:
                now = await queue_position(redis, record)
                if now != position:
                    position = now
                    yield _event(stream.QUEUED, {"status": str(status), "queue_position": now}, None)
    finally:
        # Also after a disconnect cancelled the read: shielded, or the cancellation would stop it.
        with anyio.CancelScope(shield=True):
            await slot.release()
