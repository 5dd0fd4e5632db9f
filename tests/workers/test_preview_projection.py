"""The preview map: fitted by least squares from latents and the frames they decode to, it
recovers a known linear map, and it turns a latent frame into an image."""

from pathlib import Path

import numpy as np
import torch

from workers.previews.projection import Projection, cell_means, fit


def test_the_fit_recovers_a_linear_map_from_latents_and_frames():
    rng = np.random.default_rng(0)
    channels, temporal, spatial = 6, 4, 8
    weights = rng.normal(0, 0.2, (channels, 3)).astype(np.float32)
    bias = np.array([0.5, 0.4, 0.3], dtype=np.float32)
    samples = []
    for _ in range(3):
        latents = rng.normal(0, 1, (1, channels, 3, 4, 5)).astype(np.float32)
        cells = np.einsum("cfhw,ck->fhwk", latents[0], weights) + bias
        # Frames whose cell means are exactly the map's output: the first frame alone, then 4 each.
        per_frame = np.concatenate([cells[:1], np.repeat(cells[1:], temporal, axis=0)])
        frames = per_frame.repeat(spatial, axis=1).repeat(spatial, axis=2)
        assert np.allclose(cell_means(frames, 3, temporal, spatial), cells, atol=1e-5)
        samples.append((latents, frames))
    projection, r2 = fit(samples, temporal, spatial)
    assert r2 > 0.999
    assert np.allclose(projection.weights, weights, atol=1e-4) and np.allclose(projection.bias, bias, atol=1e-4)


def test_a_latent_frame_becomes_an_image_clamped_to_colours():
    projection = Projection(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32), np.zeros(3, np.float32))
    frame = torch.tensor([[[2.0, 0.5]], [[-1.0, 0.25]]])  # (C=2, h=1, w=2)
    rgb = projection.to_rgb(frame)
    assert rgb.shape == (1, 2, 3) and rgb.dtype == np.uint8
    assert rgb.tolist() == [[[255, 0, 0], [128, 64, 0]]]


def test_a_model_without_a_fitted_map_previews_through_its_vae(tmp_path):
    """The tiny Wan pipeline through the production loader, once with the shipped map for its VAE
    and once as a family without one (then its VAE decodes the middle latent frame)."""
    import json

    from app.records import new_video_id
    from app.storage.local import LocalStorage
    from models.catalog import load_catalog
    from models.loader import load_model
    from workers.previews import Previewer

    model = load_model(
        load_catalog(Path(__file__).parents[1] / "fixtures" / "catalog.toml")["tiny-wan"], tmp_path / "data"
    )
    channels = model.pipeline.vae.config.z_dim
    latents = torch.randn(1, channels, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    storage = LocalStorage(tmp_path / "videos")
    for family, decodes in (("wan", False), ("no-fitted-map", True)):
        video_id = new_video_id()
        previewer = Previewer(storage, video_id, 1, model.pipeline, family, budget_share=0.03)
        assert previewer.decode_with_vae is decodes
        with torch.inference_mode():
            previewer.step(1, 8, {"latents": latents})
        assert storage.exists(video_id, 1, "preview")
        assert storage.read_bytes(video_id, 1, "preview")[:3] == b"\xff\xd8\xff"
        (kind, data), *_ = previewer.pending
        assert kind == "preview" and json.loads(data)["url"].startswith(
            f"/v1/videos/{video_id}/content?variant=preview"
        )
