"""Fit a model's preview map: `python -m workers.previews.fit --model NAME [--catalog FILE]`.

Renders a few prompts through the production loader and sampler, then solves the linear map
from the final latents to the decoded frames (workers/previews/projection.py) and stores it in
`models/families/previews/<family>.json` for this VAE. Run it once per new VAE, on the machine
that has the weights; it prints how well the map fits (R^2).
"""

import argparse
from pathlib import Path

from app.settings import get_settings
from models.catalog import load_catalog
from models.loader import load_model
from workers.conditioning.latent_space import latent_space_of
from workers.previews.projection import fit, save_projection
from workers.runtime import sample


PROMPTS = (
    "a red ball rolling left on a green field",
    "a blue square moving right on a yellow background",
    "a white circle bouncing on a dark purple floor",
    "an orange triangle drifting up through a cyan sky",
)


def fit_model(name: str, catalog_path: Path | None, data_dir: Path, size: str | None, steps: int | None) -> None:
    catalog = load_catalog(catalog_path)
    entry = catalog[name]
    model = load_model(entry, data_dir)
    spec = entry.spec
    width, height = (int(side) for side in (size or spec.default_size).split("x"))
    space = latent_space_of(model.pipeline)
    samples = []
    for seed, prompt in enumerate(PROMPTS):
        params = {
            "prompt": prompt,
            "negative_prompt": None,
            "height": height,
            "width": width,
            "num_frames": spec.default_frames or spec.frame_rule.offset + 2 * spec.frame_rule.multiple,
            "num_inference_steps": steps or spec.default_steps,
            "guidance_scale": spec.default_guidance,
            "seed": seed,
            "fps": spec.native_fps,
        }
        result = sample(model, params, lambda done, total: None)
        if result.latents is None:
            raise SystemExit(f"{type(model.pipeline).__name__} does not hand back its latents: no preview map")
        samples.append((result.latents.numpy(), result.frames))
    projection, r2 = fit(samples, space.temporal, space.spatial)
    path = save_projection(entry.family, model.pipeline.vae, projection, fitted_on=name, samples=len(samples), r2=r2)
    print(f"{name}: R^2 {r2:.3f} over {len(samples)} samples -> {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--catalog", type=Path)
    parser.add_argument("--size", help="WxH to render the samples at (default: the model's)")
    parser.add_argument("--steps", type=int)
    args = parser.parse_args()
    settings = get_settings()
    fit_model(args.model, args.catalog or settings.catalog, settings.data_dir, args.size, args.steps)


if __name__ == "__main__":
    main()
