"""Is the LLM's reply a usable caption? Clean it up, or say why not.

A reply is rejected when it is empty, too long, a refusal, structured data or a list rather than
prose, or when it drops what the user asked for (most of the prompt's content words, a quoted
text, a count). Each rejection has a short reason that ends up in `prompt_expansion`.
"""

import json
import math
import re


# The first words of a refusal, as chat models phrase them.
_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry\b|i apologi[sz]e|unfortunately\b|as an ai\b|"
    r"i (?:can ?not|can't|won't|will not|am unable|'m unable|am not able|'m not able)\b)",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•+]|\d+[.)])\s+")
_LABEL = re.compile(r"^\s*(?:\*\*)?(?:caption|revised prompt|prompt|output)\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)
_QUOTES = "\"'“”‘’«»`"
_QUOTED = re.compile(r"\"([^\"]{2,})\"|“([^”]{2,})”")
_WORD = re.compile(r"[a-z0-9]+")
# Words that carry no subject or motion; what remains must mostly survive the rewrite.
_FILLER = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "in",
        "on",
        "at",
        "to",
        "from",
        "with",
        "without",
        "into",
        "onto",
        "over",
        "under",
        "by",
        "for",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "very",
        "some",
        "any",
        "all",
        "each",
        "video",
        "clip",
        "scene",
        "shot",
        "make",
        "create",
        "show",
        "showing",
        "generate",
        "please",
        "render",
        "film",
        "image",
        "picture",
    ]
)
_NUMBERS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20",
}  # fmt: skip


class Rejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _looks_structured(text: str) -> bool:
    if text.startswith(("```", "{", "[", "<")):
        return True
    try:
        return isinstance(json.loads(text), (dict, list))
    except ValueError:
        return False


def _clean(text: str) -> str:
    text = _LABEL.sub("", text)
    text = text.replace("**", "").replace("__", "")
    text = " ".join(text.split())
    # Models like to wrap the whole caption in quotes; quotes inside it are the user's.
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def _stem(word: str) -> str:
    # Crude on purpose: "balls"/"ball", "running"/"runs" meet at four letters.
    return word[:4]


def _content_stems(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _FILLER}


def _counts(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    return {_NUMBERS.get(w, w) for w in words if w in _NUMBERS or (w.isdigit() and w not in ("0", "1"))}


def _drops_the_request(prompt: str, caption: str) -> bool:
    wanted = _content_stems(prompt)
    kept = wanted & _content_stems(caption)
    # A rewrite may rename things (ball -> circle) but keeps a fair share of the user's words.
    if wanted and len(kept) < max(1, math.ceil(len(wanted) / 4)):
        return True
    caption_lower = caption.lower()
    for match in _QUOTED.finditer(prompt):
        if (match[1] or match[2]).lower() not in caption_lower:
            return True
    return not _counts(prompt) <= _counts(caption)


def check_caption(prompt: str, reply: str | None, max_chars: int) -> str:
    """The cleaned caption, or `Rejected` with the reason the prompt must pass through instead."""
    text = (reply or "").strip()
    if not text:
        raise Rejected("empty")
    if _looks_structured(text) or sum(bool(_LIST_ITEM.match(line)) for line in text.splitlines()) >= 2:
        raise Rejected("invalid_response")
    text = _clean(text)
    if not text:
        raise Rejected("empty")
    if _REFUSAL.match(text):
        raise Rejected("refusal")
    if len(text) > max_chars:
        raise Rejected("too_long")
    if _drops_the_request(prompt, text):
        raise Rejected("off_topic")
    return text
