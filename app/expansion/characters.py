"""Characters named in a prompt are replaced by their descriptions before the prompt is
expanded or rendered: a video model knows what "a small red circle" looks like, not "Mira"."""

import re

from app.characters.store import name_key


def _pattern(name: str) -> re.Pattern:
    words = [re.escape(w) for w in name.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def named_in(prompt: str, characters: list[dict]) -> list[dict]:
    """The tenant's characters the prompt names, longest names first (so "Mira Jr" wins over "Mira")."""
    ordered = sorted(characters, key=lambda c: len(name_key(c["name"])), reverse=True)
    return [c for c in ordered if _pattern(c["name"]).search(prompt)]


def insert_descriptions(prompt: str, characters: list[dict]) -> str:
    for character in characters:
        if character.get("description"):
            prompt = _pattern(character["name"]).sub(character["description"], prompt)
    return prompt


def prompt_of(record: dict) -> str:
    """The prompt the expansion step and the sampler start from."""
    return record.get("character_prompt") or record["prompt"]
