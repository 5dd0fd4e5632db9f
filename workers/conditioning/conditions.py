"""What a render is conditioned on: plain data, stored as JSON in the record (never pickled).

Media are named, not embedded: `source` is the name of an input stored with the video
(`INPUT_NAMES`, a fixed table, so no path is ever built from what a user sent). A caller in the
worker may instead hand arrays over directly in `data` (never serialised), e.g. the latents a
previous chunk just produced.
"""

from dataclasses import dataclass, field
from typing import Any


# Stored inputs a condition may name: the storage variant each one lives in (app/storage).
INPUT_NAMES = ("input_image", "input_video", "reference_image")
DEFAULT_SDEDIT_STRENGTH = 0.6


class ConditionError(ValueError):
    """Conditions that cannot be applied (bad numbers, missing media, a model that cannot)."""


def _check_source(source: str | None, data: Any, what: str) -> None:
    if source is None and data is None:
        raise ConditionError(f"{what} needs a stored `source` or in-process `data`")
    if source is not None and source not in INPUT_NAMES:
        raise ConditionError(f"{what}: unknown source {source!r}; known: {', '.join(INPUT_NAMES)}")


@dataclass
class Pin:
    """Known frames at a fixed place in the video.

    `at` is the pixel frame where they start; a negative `at` counts from the end, so `at=-1`
    pins the last frame and `at=-k` the last k. `frames` is how many frames are taken from the
    media: the first ones for an image (it is repeated), the LAST ones of a video (its tail).
    With `latents=True` the media are latents in the denoising space of the same model, shaped
    (1, C, f, h, w) (see `SampleResult.latents`); `frames` then counts latent frames.
    """

    at: int = 0
    source: str | None = None
    frames: int = 1
    latents: bool = False
    data: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        _check_source(self.source, self.data, "a pinned frame")
        if self.frames < 1:
            raise ConditionError(f"a pin needs at least one frame, not {self.frames}")

    def to_json(self) -> dict:
        self._refuse_unstored()
        return {"at": self.at, "source": self.source, "frames": self.frames, "latents": self.latents}

    def _refuse_unstored(self) -> None:
        if self.source is None:
            raise ConditionError("a pin holding in-process data cannot be stored; store the media and name it")


@dataclass
class SourceVideo:
    """A video to re-draw (SDEdit): noised to `strength` (0: unchanged, 1: pure noise), then
    denoised with the prompt. Its frames are resized and cut or looped to the render's length."""

    source: str | None = None
    strength: float = DEFAULT_SDEDIT_STRENGTH
    data: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        _check_source(self.source, self.data, "a source video")
        if not 0.0 < self.strength <= 1.0:
            raise ConditionError(f"strength must be in (0, 1], not {self.strength}")

    def to_json(self) -> dict:
        if self.source is None:
            raise ConditionError("a source video holding in-process data cannot be stored")
        return {"source": self.source, "strength": self.strength}


@dataclass
class Reference:
    """An image of a subject to keep (a character), for families with reference conditioning."""

    source: str | None = None
    data: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        _check_source(self.source, self.data, "a reference image")

    def to_json(self) -> dict:
        if self.source is None:
            raise ConditionError("a reference holding in-process data cannot be stored")
        return {"source": self.source}


@dataclass
class Conditions:
    pins: list[Pin] = field(default_factory=list)
    video: SourceVideo | None = None
    references: list[Reference] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.pins or self.video or self.references)

    def to_json(self) -> dict:
        return {
            "pins": [p.to_json() for p in self.pins],
            "video": self.video.to_json() if self.video else None,
            "references": [r.to_json() for r in self.references],
        }

    @classmethod
    def from_json(cls, raw: dict | None) -> "Conditions":
        raw = raw or {}
        try:
            return cls(
                pins=[Pin(**p) for p in raw.get("pins") or ()],
                video=SourceVideo(**raw["video"]) if raw.get("video") else None,
                references=[Reference(**r) for r in raw.get("references") or ()],
            )
        except TypeError as exc:
            raise ConditionError(f"malformed conditions {raw!r}: {exc}") from None

    def sources(self) -> set[str]:
        """The stored inputs these conditions read."""
        named = [p.source for p in self.pins] + [r.source for r in self.references]
        if self.video:
            named.append(self.video.source)
        return {s for s in named if s}
