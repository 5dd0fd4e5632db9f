"""The yardstick for bench/post_load.py: a bare FastAPI endpoint taking the same body.

No Redis, no records, no queue: a pydantic body in, a small JSON object out, served by the same
uvicorn settings as `t2v api` (uvloop, httptools, no access log).
"""

import secrets

from fastapi import FastAPI
from pydantic import BaseModel


class CreateBody(BaseModel):
    prompt: str
    model: str | None = None
    seconds: str | None = None
    size: str | None = None
    seed: int | None = None


app = FastAPI()


@app.post("/v1/videos")
async def create(body: CreateBody) -> dict:
    return {"id": f"video_{secrets.token_hex(16)}", "object": "video", "status": "queued", **body.model_dump()}
