"""A linear map from a family's latent channels to RGB, for previews while denoising.

Fitted once per VAE from a few rendered samples (`python -m workers.previews.fit`): the final
latents against the decoded frames averaged over each latent cell, solved by least squares. The
maps live in `models/families/previews/<family>.json`, one per VAE (named by a hash of its
config, so a checkpoint with another VAE gets no wrong colours, only no preview).
"""

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


PREVIEWS_DIR = Path(__file__).resolve().parents[2] / "models" / "families" / "previews"
# Config entries that say nothing about what the VAE computes.
_UNRELATED_CONFIG = ("_diffusers_version", "_name_or_path", "_use_default_values")


def vae_fingerprint(vae) -> str:
    config = {k: v for k, v in dict(vae.config).items() if k not in _UNRELATED_CONFIG}
    text = json.dumps({"class": type(vae).__name__, "config": config}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Projection:
    weights: np.ndarray  # (C, 3)
    bias: np.ndarray  # (3,)

    def to_rgb(self, latent_frame: torch.Tensor) -> np.ndarray:
        """(C, h, w) latents -> (h, w, 3) uint8."""
        weights = torch.as_tensor(self.weights, dtype=torch.float32, device=latent_frame.device)
        bias = torch.as_tensor(self.bias, dtype=torch.float32, device=latent_frame.device)
        rgb = torch.einsum("chw,ck->hwk", latent_frame.float(), weights) + bias
        return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def projection_file(family: str) -> Path:
    if not family.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"not a family name: {family!r}")
    return PREVIEWS_DIR / f"{family}.json"


def load_projection(family: str, vae) -> Projection | None:
    """The fitted map for this family and VAE, or None when none was fitted."""
    path = projection_file(family)
    if not path.is_file():
        return None
    fingerprint = vae_fingerprint(vae)
    for entry in json.loads(path.read_text())["projections"]:
        if entry["vae"] == fingerprint:
            return Projection(
                np.asarray(entry["weights"], dtype=np.float32), np.asarray(entry["bias"], dtype=np.float32)
            )
    return None


def cell_means(frames: np.ndarray, latent_frames: int, temporal: int, spatial: int) -> np.ndarray:
    """(F, H, W, 3) frames -> (f, h, w, 3): the mean colour each latent cell stands for.

    A causal video VAE encodes the first frame alone and each later latent frame from the next
    `temporal` frames.
    """
    groups = [frames[:1]]
    for t in range(1, latent_frames):
        groups.append(frames[(t - 1) * temporal + 1 : t * temporal + 1])
    out = []
    for group in groups:
        mean = group.mean(axis=0)
        h, w = mean.shape[0] // spatial, mean.shape[1] // spatial
        out.append(mean[: h * spatial, : w * spatial].reshape(h, spatial, w, spatial, 3).mean(axis=(1, 3)))
    return np.stack(out)


def fit(samples: list[tuple[np.ndarray, np.ndarray]], temporal: int, spatial: int) -> tuple[Projection, float]:
    """Least squares over (canonical latents (1, C, f, h, w), frames (F, H, W, 3) in [0, 1]) pairs;
    returns the map and its R^2 on the samples."""
    xs, ys = [], []
    for latents, frames in samples:
        latents = np.asarray(latents, dtype=np.float32)[0]
        f = min(latents.shape[1], (len(frames) - 1) // temporal + 1)
        colours = cell_means(np.asarray(frames, dtype=np.float32), f, temporal, spatial)
        h, w = colours.shape[1:3]
        cells = latents[:, :f, :h, :w]
        xs.append(cells.reshape(cells.shape[0], -1).T)
        ys.append(colours.reshape(-1, 3))
    x, y = np.concatenate(xs), np.concatenate(ys)
    design = np.concatenate([x, np.ones((len(x), 1), dtype=np.float32)], axis=1)
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ solution
    r2 = 1.0 - float((residual**2).sum() / max(((y - y.mean(axis=0)) ** 2).sum(), 1e-12))
    return Projection(solution[:-1].astype(np.float32), solution[-1].astype(np.float32)), r2


def save_projection(family: str, vae, projection: Projection, *, fitted_on: str, samples: int, r2: float) -> Path:
    """Add (or replace) this VAE's map in the family's file."""
    path = projection_file(family)
    data = json.loads(path.read_text()) if path.is_file() else {"family": family, "projections": []}
    fingerprint = vae_fingerprint(vae)
    data["projections"] = [p for p in data["projections"] if p["vae"] != fingerprint]
    data["projections"].append(
        {
            "vae": fingerprint,
            "fitted_on": fitted_on,
            "samples": samples,
            "r2": round(r2, 4),
            "weights": [[round(float(v), 6) for v in row] for row in projection.weights],
            "bias": [round(float(v), 6) for v in projection.bias],
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_dump(data))
    return path


def _dump(data: dict) -> str:
    # One row of numbers per line: a reviewer can read a channel's colour at a glance.
    text = json.dumps(data, indent=1)
    return (
        re.sub(
            r"\[\s+([-0-9.e, \n]+?)\s+\]", lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text
        )
        + "\n"
    )
