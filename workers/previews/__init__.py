"""Preview images while a video denoises: the current latents through the family's linear
latent->RGB map (workers/previews/projection.py), every few steps, within a time budget. A Wan-
architecture model whose VAE has no fitted map decodes the middle latent frame alone with its VAE
instead; the budget decides how often that is affordable.

A render calls `begin(...)` before sampling and `end()` when it is over; the sampler's step
callback calls `on_step(...)`, which does nothing outside a render. Each preview is stored as the video's `preview` variant
(`GET /v1/videos/{id}/content?variant=preview`) and announced by a `preview` event that goes out
with the step's progress (one Redis round trip per step, as before).
"""

import logging
import os
import tempfile
import time
from contextvars import ContextVar

import torch
from PIL import Image

from app.events import stream
from workers.previews.projection import Projection, load_projection


log = logging.getLogger(__name__)

# Previews per render at most (one every total/N steps).
PREVIEWS_PER_RENDER = 8
# The longest side of a preview image, in pixels (latents are upscaled to it, smoothly).
PREVIEW_MAX_SIDE = 256
PREVIEW_QUALITY = 80

_active: ContextVar["Previewer | None"] = ContextVar("previewer", default=None)


class Previewer:
    """Makes a render's previews; spends at most `budget_share` of the denoising time on them
    (after the first, which always comes so that short renders show one too)."""

    def __init__(self, storage, video_id: str, attempt: int, pipeline, family: str, budget_share: float):
        self.storage, self.video_id, self.attempt = storage, video_id, attempt
        self.budget_share = budget_share
        self.kind = type(pipeline).__name__
        self.vae = getattr(pipeline, "vae", None)
        self.projection: Projection | None = load_projection(family, self.vae) if self.vae is not None else None
        self.decode_with_vae = self.projection is None and _decodes_single_frames(pipeline)
        if self.projection is None and budget_share > 0:
            how = "its VAE decodes them" if self.decode_with_vae else "none are made"
            log.info("no preview map for family %s and this VAE (python -m workers.previews.fit): %s", family, how)
        self.started = time.perf_counter()
        self.spent_s = 0.0
        self.made = 0
        self.pending: list[list] = []

    def _due(self, done: int, total: int) -> bool:
        if not (self.projection or self.decode_with_vae) or self.budget_share <= 0 or done >= total:
            return False  # the last step's result is the video itself, moments later
        if done % max(1, total // PREVIEWS_PER_RENDER):
            return False
        if self.made == 0:
            return True
        elapsed = time.perf_counter() - self.started
        # The next one is expected to cost what the last ones did on average.
        return self.spent_s * (self.made + 1) / self.made <= self.budget_share * elapsed

    def step(self, done: int, total: int, callback_kwargs: dict) -> None:
        if not self._due(done, total):
            return
        started = time.perf_counter()
        try:
            frame = self._middle_frame(callback_kwargs.get("latents"))
            if frame is None:
                return
            self._store(frame, done, total)
        except Exception:  # a preview must never cost the video
            log.exception("preview of %s at step %d failed", self.video_id, done)
            self.projection, self.decode_with_vae = None, False
        finally:
            self.spent_s += time.perf_counter() - started

    def _middle_frame(self, latents) -> torch.Tensor | None:
        """The middle latent frame, (C, h, w), of the loop's latents (None for packed layouts)."""
        if latents is None or latents.ndim != 5:
            return None  # e.g. LTX packs latents into tokens: no preview
        if self.kind.startswith("CogVideoX"):
            latents = latents.permute(0, 2, 1, 3, 4)  # its loop keeps frames before channels
        if self.projection is not None and latents.shape[1] != self.projection.weights.shape[0]:
            return None
        return latents[0, :, latents.shape[2] // 2]

    def _to_rgb(self, frame: torch.Tensor):
        if self.projection is not None:
            return self.projection.to_rgb(frame)
        # Undo the pipeline's normalisation, as WanPipeline does before its own decode.
        config = self.vae.config
        mean = torch.tensor(config.latents_mean).view(-1, 1, 1).to(frame)
        std = torch.tensor(config.latents_std).view(-1, 1, 1).to(frame)
        raw = (frame * std + mean)[None, :, None].to(self.vae.dtype)
        # A single latent frame decodes like a video's first frame: one image.
        pixels = self.vae.decode(raw).sample[0, :, 0]
        return ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()

    def _store(self, frame: torch.Tensor, done: int, total: int) -> None:
        image = Image.fromarray(self._to_rgb(frame))
        scale = PREVIEW_MAX_SIDE / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
        handle, path = tempfile.mkstemp(prefix="t2v-preview-", suffix=".jpg")
        try:
            with os.fdopen(handle, "wb") as file:
                image.save(file, format="JPEG", quality=PREVIEW_QUALITY)
            self.storage.put(self.video_id, self.attempt, {"preview": path})
        finally:
            os.unlink(path)
        self.made += 1
        data = {
            "step": done,
            "steps": total,
            "width": image.width,
            "height": image.height,
            # `n` makes each preview's address new, so a page never shows a cached older one.
            "url": f"/v1/videos/{self.video_id}/content?variant=preview&n={self.made}",
        }
        self.pending.append(stream.encode(stream.PREVIEW, data))


def _decodes_single_frames(pipeline) -> bool:
    """Wan-architecture VAEs (Wan, the embedded model) are causal: a latent frame alone decodes."""
    vae = getattr(pipeline, "vae", None)
    return (
        type(pipeline).__name__.startswith("Wan")
        and type(vae).__name__ == "AutoencoderKLWan"
        and getattr(vae.config, "latents_mean", None) is not None
    )


def begin(storage, video_id: str, attempt: int, model, budget_share: float) -> Previewer:
    """Make previews of this render's sampling (until `end()`)."""
    previewer = Previewer(storage, video_id, attempt, model.pipeline, model.entry.family, budget_share)
    _active.set(previewer)
    return previewer


def end() -> None:
    _active.set(None)


def on_step(done: int, total: int, callback_kwargs: dict) -> None:
    """The sampler's hook after each denoising step (a no-op outside `capture`)."""
    previewer = _active.get()
    if previewer is not None:
        previewer.step(done, total, callback_kwargs)


def take_events() -> list[list]:
    """The `preview` events made since the last call, to send with the step's progress."""
    previewer = _active.get()
    if previewer is None or not previewer.pending:
        return []
    events, previewer.pending = previewer.pending, []
    return events
