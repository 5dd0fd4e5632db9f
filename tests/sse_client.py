"""A Server-Sent Events reader over httpx, as strict as a browser's EventSource parser."""

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx


@dataclass
class Event:
    id: str | None
    type: str
    data: dict


def parse(lines: Iterator[str]) -> Iterator[Event]:
    """Events from the lines of a `text/event-stream` body (comments are skipped)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield Event(fields.get("id"), fields.get("event", "message"), json.loads("\n".join(data)))
            fields, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        else:
            fields[name] = value


def read_events(
    base: str, video_id: str, *, last_event_id: str | None = None, headers: dict | None = None, stop=None, **kwargs
) -> list[Event]:
    """Every event until the server closes the stream (or `stop(event)` says enough)."""
    headers = dict(headers or {})
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    timeout = httpx.Timeout(10, read=kwargs.pop("read_timeout", 30))
    events = []
    with httpx.stream("GET", f"{base}/v1/videos/{video_id}/events", headers=headers, timeout=timeout, **kwargs) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for event in parse(r.iter_lines()):
            events.append(event)
            if stop is not None and stop(event):
                break
    return events
