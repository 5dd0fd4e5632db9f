"""Offline prompt expander: short free-form prompts to the training caption grammar.

"red ball going left" -> "a large red circle moves to the left slowly on a plain
black background." Pure Python (the API process imports it without torch).
Returns None when the prompt does not name a colour, a shape and a direction the
world knows, so the caller can pass the prompt through unchanged.
"""

from __future__ import annotations

import re

from models.embedded.captions import caption


COLOUR_WORDS = {
    "red": "red", "crimson": "red", "scarlet": "red",
    "green": "green", "lime": "green", "emerald": "green",
    "blue": "blue", "azure": "blue", "cobalt": "blue",
    "yellow": "yellow", "gold": "yellow", "golden": "yellow",
    "cyan": "cyan", "turquoise": "cyan", "teal": "cyan", "aqua": "cyan",
    "pink": "pink", "magenta": "pink", "fuchsia": "pink",
}  # fmt: skip
SHAPE_WORDS = {
    "circle": "circle", "ball": "circle", "disc": "circle", "disk": "circle", "dot": "circle",
    "sphere": "circle", "orb": "circle", "round": "circle",
    "square": "square", "box": "square", "block": "square", "cube": "square", "tile": "square",
    "triangle": "triangle", "pyramid": "triangle", "wedge": "triangle", "triangular": "triangle",
}  # fmt: skip
# Each word contributes a (horizontal, vertical) component; image y grows downwards.
DIRECTION_WORDS = {
    "left": (-1, 0), "leftward": (-1, 0), "leftwards": (-1, 0), "west": (-1, 0), "westward": (-1, 0),
    "right": (1, 0), "rightward": (1, 0), "rightwards": (1, 0), "east": (1, 0), "eastward": (1, 0),
    "up": (0, -1), "upward": (0, -1), "upwards": (0, -1), "north": (0, -1), "top": (0, -1), "upper": (0, -1),
    "rising": (0, -1), "rises": (0, -1), "climbing": (0, -1), "climbs": (0, -1), "ascending": (0, -1),
    "down": (0, 1), "downward": (0, 1), "downwards": (0, 1), "south": (0, 1), "bottom": (0, 1),
    "lower": (0, 1), "falling": (0, 1), "falls": (0, 1), "sinking": (0, 1), "sinks": (0, 1),
    "dropping": (0, 1), "drops": (0, 1), "descending": (0, 1),
    "northwest": (-1, -1), "northeast": (1, -1), "southwest": (-1, 1), "southeast": (1, 1),
}  # fmt: skip
DIRECTION_NAMES = {
    (-1, 0): "left", (1, 0): "right", (0, -1): "up", (0, 1): "down",
    (-1, -1): "up-left", (1, -1): "up-right", (-1, 1): "down-left", (1, 1): "down-right",
}  # fmt: skip
SPEED_WORDS = {
    "slow": "slowly", "slowly": "slowly", "gently": "slowly", "drifting": "slowly", "drifts": "slowly",
    "fast": "quickly", "quickly": "quickly", "quick": "quickly", "rapidly": "quickly", "speeding": "quickly",
    "racing": "quickly", "zooming": "quickly", "shooting": "quickly", "darting": "quickly",
}  # fmt: skip
SIZE_WORDS = {
    "small": "small", "tiny": "small", "little": "small", "mini": "small",
    "large": "large", "big": "large", "huge": "large", "giant": "large",
}  # fmt: skip
BACKGROUND_WORDS = {"black": "black", "dark": "black", "night": "black", "grey": "grey", "gray": "grey",
                    "neutral": "grey", "silver": "grey", "charcoal": "dark grey"}  # fmt: skip
BACKGROUND_NOUNS = {"background", "backdrop", "backdrops", "backgrounds"}
DEFAULTS = {"speed": "slowly", "size": "large", "background": "black"}


def _background(words: list[str]) -> tuple[str, set[int]]:
    """Find "<colour words> background" and return its value and the word positions it used."""
    for index, word in enumerate(words):
        if word in BACKGROUND_NOUNS:
            used = {index}
            values = []
            for back in range(index - 1, max(-1, index - 4), -1):
                if words[back] in BACKGROUND_WORDS or words[back] == "plain":
                    used.add(back)
                    if words[back] != "plain":
                        values.insert(0, words[back])
                else:
                    break
            if ("dark" in values and "grey" in [BACKGROUND_WORDS[v] for v in values]) or "charcoal" in values:
                return "dark grey", used
            if values:
                return BACKGROUND_WORDS[values[-1]], used
            return DEFAULTS["background"], used
    return DEFAULTS["background"], set()


def _single(words: list[str], table: dict[str, str]) -> str | bool | None:
    """The one value the words name from `table`; None if none, False if conflicting."""
    found = {table[word] for word in words if word in table}
    if len(found) > 1:
        return False
    return found.pop() if found else None


def expand(prompt: str) -> str | None:
    words = re.findall(r"[a-z]+", prompt.lower())
    background, used = _background(words)
    words = [word for index, word in enumerate(words) if index not in used]
    colour = _single(words, COLOUR_WORDS)
    shape = _single(words, SHAPE_WORDS)
    if not colour or not shape:
        return None  # unknown, missing or several objects: let the caller pass it through
    horizontal = {DIRECTION_WORDS[w][0] for w in words if w in DIRECTION_WORDS and DIRECTION_WORDS[w][0]}
    vertical = {DIRECTION_WORDS[w][1] for w in words if w in DIRECTION_WORDS and DIRECTION_WORDS[w][1]}
    if len(horizontal) > 1 or len(vertical) > 1 or not (horizontal or vertical):
        return None
    direction = DIRECTION_NAMES[(horizontal.pop() if horizontal else 0, vertical.pop() if vertical else 0)]
    speed = _single(words, SPEED_WORDS) or DEFAULTS["speed"]
    size = _single(words, SIZE_WORDS) or DEFAULTS["size"]
    return caption(colour, shape, direction, speed, size, background)
