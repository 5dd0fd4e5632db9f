"""The caption grammar shared by training, the offline expander and the LLM prompt.

Every caption names exactly: size, colour, shape, direction, speed, background.
Several sentence templates exist (as a re-captioner would vary its wording) but
the content words are fixed, so a short prompt can be expanded into words the
text encoder has seen.
"""

from __future__ import annotations

import random
import re

from models.embedded.world import BACKGROUNDS, COLOURS, OBJECT_SIZES, SHAPES, SPEEDS, ClipSpec


DIRECTION_PHRASES = {
    "left": "to the left",
    "right": "to the right",
    "up": "upward",
    "down": "downward",
    "up-left": "up and to the left",
    "up-right": "up and to the right",
    "down-left": "down and to the left",
    "down-right": "down and to the right",
}

# Template 0 is the canonical form the expander produces.
TEMPLATES = (
    "a {size} {colour} {shape} moves {direction} {speed} on a plain {background} background.",
    "on a plain {background} background, a {size} {colour} {shape} glides {speed} {direction}.",
    "a {colour} {shape}, {size}, travels {direction} {speed} across a plain {background} background.",
)


def caption(colour: str, shape: str, direction: str, speed: str, size: str, background: str, template: int = 0) -> str:
    return TEMPLATES[template].format(
        colour=colour,
        shape=shape,
        direction=DIRECTION_PHRASES[direction],
        speed=speed,
        size=size,
        background=background,
    )


def caption_for(spec: ClipSpec, rng: random.Random | None = None) -> str:
    """Caption a clip; with an rng the template is drawn at random (training)."""
    template = rng.randrange(len(TEMPLATES)) if rng is not None else 0
    return caption(spec.colour, spec.shape, spec.direction, spec.speed, spec.size, spec.background, template)


def vocabulary() -> list[str]:
    """Every word the captions can contain, for the word-level tokenizer."""
    texts = [re.sub(r"\{\w+\}", " ", template) for template in TEMPLATES]
    texts += list(DIRECTION_PHRASES.values()) + list(COLOURS) + list(SHAPES)
    texts += list(SPEEDS) + list(OBJECT_SIZES) + list(BACKGROUNDS)
    words = {word for text in texts for word in re.findall(r"\w+|[^\w\s]", text)}
    return sorted(words)
