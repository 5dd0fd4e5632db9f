"""One sentence that says what a character looks like, from frames of its video.

With an LLM configured, the openai client sends the middle frame as an image; for the embedded
model (or when the LLM fails) the embedded analyzer names the object's colour and shape.
"""

import base64
import io
import logging

import numpy as np
from PIL import Image

from app.expansion import llm
from app.expansion.plan import llm_configured
from app.settings import Settings


log = logging.getLogger(__name__)

SYSTEM = (
    "You describe the main subject of an image for a video generator, so that it can be drawn "
    "again in other scenes. Answer with one noun phrase of at most 30 words: what it is, its "
    "colours, shape, size and distinctive features. No names, no scene, no preamble."
)


def _png(frame: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(frame).save(out, format="PNG")
    return out.getvalue()


def with_llm(settings: Settings, frame: np.ndarray, name: str) -> str:
    url = "data:image/png;base64," + base64.b64encode(_png(frame)).decode()
    user = [
        {"type": "text", "text": f"The subject is called {name!r}. Describe it."},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    text = llm.complete(settings, SYSTEM, user)
    return " ".join(text.split()).rstrip(".")[:400]


def with_analyzer(frames: np.ndarray) -> str:
    from models.embedded.analyzer import analyze_frames

    found = analyze_frames(frames)
    if not found.colour or not found.shape:
        return ""
    return f"a {found.colour} {found.shape}"


def describe(settings: Settings, frames: np.ndarray, name: str, embedded: bool) -> tuple[str, str]:
    """(description, how it was made: llm | analyzer | none)."""
    middle = frames[len(frames) // 2]
    if llm_configured(settings):
        try:
            return with_llm(settings, middle, name), "llm"
        except llm.LLMFailure as exc:
            log.info("describing character %r with the LLM failed (%s)", name, exc.reason)
    if embedded:
        description = with_analyzer(frames)
        if description:
            return description, "analyzer"
    return "", "none"
