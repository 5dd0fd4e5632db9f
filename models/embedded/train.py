"""Train the embedded text-to-video model from scratch, in resumable stages.

    python -m models.embedded.train            # all stages: vae, latents, transformer, export
    python -m models.embedded.train --stage vae

Stages: (1) the Wan VAE (8x spatial, 4x temporal compression) on rendered clips, warm-started
from the previous frame-wise VAE, (2) latents of a fixed clip set, encoded once, (3) the Wan
transformer and UMT5 text encoder jointly, by flow matching with a noise level per latent
frame, on those latents, (4) export of a standard WanPipeline folder plus loss curves.
Intermediate state lives in .cache/embedded/; rerunning a stage resumes it. The export goes to
.cache/embedded/export/ (see --export-dir), to be evaluated before it replaces the shipped folder.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.embedded import FPS, FRAME_COUNTS, SIZES
from models.embedded.architecture import (
    FLOW_SHIFT,
    TRANSFORMER_PATCH,
    build_scheduler,
    build_text_encoder,
    build_tokenizer,
    build_transformer,
    build_vae,
)
from models.embedded.captions import caption_for
from models.embedded.compact_text import encode_compact, install, null_padding
from models.embedded.training_utils import (
    CACHE_DIR,
    Checkpointer,
    ExponentialMovingAverage,
    LossLog,
    warmup_cosine_schedule,
)
from models.embedded.world import ClipSpec, render, sample_spec


SEED = 1234
CAPTION_DROPOUT = 0.1
# Share of training clips whose start is anywhere, so the object may bounce off an edge
# (long continuations must stay lawful); the others keep the captioned direction throughout.
BOUNCE_FRACTION = 0.15
# The VAE starts from the previous (frame-wise) embedded VAE: its spatial layers are reused.
WARM_START_VAE = CACHE_DIR / "previous_pipeline" / "vae" / "diffusion_pytorch_model.safetensors"
# Unknown words all map to <unk>; training on them as "unconditional" too keeps
# classifier-free guidance sane for arbitrary negative prompts.
JUNK_NEGATIVE = "blurry low quality distorted static ugly"


def parse_size(size: str) -> tuple[int, int]:
    width, height = size.split("x")
    return int(width), int(height)


def clips_to_tensor(specs: list[ClipSpec]) -> torch.Tensor:
    """Render specs into a (B, 3, T, H, W) tensor in [-1, 1]."""
    frames = np.stack([render(spec) for spec in specs]).astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(frames).permute(0, 4, 1, 2, 3).contiguous()


# ---------------------------------------------------------------- stage 1: VAE


def vae_loss(reconstruction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Foreground-weighted pixel loss plus a per-frame object-colour loss.

    The object covers a few percent of the frame, so plain MSE lets colour drift
    (blue to purple, yellow to white) at almost no cost; weighting object pixels and
    matching their mean colour makes colour the thing the VAE cannot get wrong.
    """
    background = target[..., :1, :1]  # corners are always background in this world
    foreground = ((target - background).abs().amax(dim=1, keepdim=True) > 0.08).float()
    weight = 1.0 + 15.0 * foreground
    difference = reconstruction - target
    pixel = (weight * (difference.abs() + difference.pow(2))).mean() / weight.mean()
    pixel_count = foreground.sum(dim=(-2, -1)).clamp(min=1.0)
    reconstructed_colour = (reconstruction * foreground).sum(dim=(-2, -1)) / pixel_count
    target_colour = (target * foreground).sum(dim=(-2, -1)) / pixel_count
    colour = (reconstructed_colour - target_colour).pow(2).mean()
    return pixel + 2.0 * colour, difference.pow(2).mean()


def init_time_convs(vae: torch.nn.Module) -> None:
    """Start the temporal resampling convolutions as copies: each downsampling averages
    its two frames, each upsampling repeats its frame. The warm-started VAE then begins
    as the old frame-wise one (exact colour), and training only has to add motion."""
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanResample

    for module in vae.modules():
        if isinstance(module, WanResample) and hasattr(module, "time_conv"):
            weight, bias = module.time_conv.weight, module.time_conv.bias
            channels = weight.shape[1]
            identity = torch.eye(channels)
            with torch.no_grad():
                weight.zero_()
                bias.zero_()
                if module.mode == "upsample3d":  # output channels: [first frame | second frame]
                    weight[:channels, :, 2, 0, 0] = identity
                    weight[channels:, :, 2, 0, 0] = identity
                else:  # taps over (previous, first, second) frame, stride 2
                    weight[:, :, 1, 0, 0] = 0.5 * identity
                    weight[:, :, 2, 0, 0] = 0.5 * identity


def make_spatial_convs_framewise(vae: torch.nn.Module) -> None:
    """Zero, and keep at zero, the past-frame taps of every 3x3x3 causal convolution; only
    the temporal resampling convolutions (time_conv) mix frames. The previous VAE was
    trained this way (its taps are zero), and with these taps free a warm start diverged
    within 40 steps (MSE 0.008 -> 0.07); a latent frame then decodes from itself and its
    predecessor only, which also keeps pinned latents of a continuation local."""
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d

    for name, module in vae.named_modules():
        if isinstance(module, WanCausalConv3d) and module.weight.shape[2] > 1 and "time_conv" not in name:
            with torch.no_grad():
                module.weight[:, :, :-1] = 0
            module.weight.register_hook(lambda grad: torch.cat([torch.zeros_like(grad[:, :, :-1]), grad[:, :, -1:]], 2))


def warm_start(vae: torch.nn.Module) -> None:
    from safetensors.torch import load_file

    if WARM_START_VAE.exists():
        missing = vae.load_state_dict(load_file(WARM_START_VAE), strict=False).missing_keys
        assert all("time_conv" in key for key in missing), missing
    init_time_convs(vae)


def sample_clip_specs(rng: random.Random, width: int, height: int, num_frames: int, count: int) -> list[ClipSpec]:
    return [
        sample_spec(
            rng.randrange(2**31), width, height, num_frames, split="train", bounce=rng.random() < BOUNCE_FRACTION
        )
        for _ in range(count)
    ]


def train_vae(steps: int, batch_size: int = 4) -> None:
    """Clips of 9 and 17 frames (3 and 5 latent frames) at every trained size."""
    torch.manual_seed(SEED)
    vae = build_vae()
    make_spatial_convs_framewise(vae)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)
    checkpointer = Checkpointer(CACHE_DIR / "vae.pt")
    log = LossLog(CACHE_DIR / "vae_log.jsonl")
    start = 0
    if (state := checkpointer.load()) is not None:
        vae.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["step"]
    else:
        warm_start(vae)  # its past-frame taps are zero already
    log.truncate_after(start)
    scheduler = warmup_cosine_schedule(optimizer, steps, warmup=30, start=start)
    vae.train()
    progress = tqdm(range(start, steps), initial=start, total=steps, desc="vae", mininterval=15)
    for step in progress:
        rng = random.Random(SEED * 1_000_003 + step)  # batch depends only on the step: exact resumes
        width, height = parse_size(SIZES[step % len(SIZES)])
        num_frames = FRAME_COUNTS[(step // len(SIZES)) % len(FRAME_COUNTS)]
        clips = clips_to_tensor(sample_clip_specs(rng, width, height, num_frames, batch_size))
        latents = vae.encode(clips).latent_dist.mode()
        # Small latent noise makes the decoder tolerant of imperfect transformer samples;
        # the L2 term stops the encoder from outscaling that noise.
        decoded = vae.decode(latents + 0.05 * torch.randn_like(latents)).sample
        loss, mse = vae_loss(decoded, clips)
        loss = loss + 1e-4 * latents.pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 0.5)
        optimizer.step()
        scheduler.step()
        log.append(step=step, loss=loss.item(), mse=mse.item(), frames=num_frames, time=time.time())
        progress.set_postfix(loss=f"{loss.item():.4f}", mse=f"{mse.item():.4f}")
        checkpointer.maybe_save({"model": vae.state_dict(), "optimizer": optimizer.state_dict(), "step": step + 1})
    checkpointer.maybe_save({"model": vae.state_dict(), "optimizer": optimizer.state_dict(), "step": steps}, True)


def train_decoder(steps: int, batch_size: int = 4) -> None:
    """Decoder-only refinement with the encoder frozen: the latents, and so the
    transformer trained on them, stay valid, so this can run alongside stage 3. It
    teaches the decoder the motion inside each group of four frames (after the joint
    stage it still drew each group's frames nearly alike)."""
    torch.manual_seed(SEED + 1)
    vae = load_vae(decoder=False)
    make_spatial_convs_framewise(vae)
    decoder_parameters = [*vae.decoder.parameters(), *vae.post_quant_conv.parameters()]
    optimizer = torch.optim.AdamW(decoder_parameters, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)
    checkpointer = Checkpointer(CACHE_DIR / "decoder.pt")
    log = LossLog(CACHE_DIR / "decoder_log.jsonl")
    start = 0
    if (state := checkpointer.load()) is not None:
        vae.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["step"]
    log.truncate_after(start)
    scheduler = warmup_cosine_schedule(optimizer, steps, warmup=20, start=start)
    vae.train()
    progress = tqdm(range(start, steps), initial=start, total=steps, desc="decoder", mininterval=15)
    for step in progress:
        rng = random.Random(SEED * 3_000_017 + step)
        width, height = parse_size(SIZES[step % len(SIZES)])
        num_frames = FRAME_COUNTS[(step // len(SIZES)) % len(FRAME_COUNTS)]
        clips = clips_to_tensor(sample_clip_specs(rng, width, height, num_frames, batch_size))
        with torch.no_grad():
            latents = vae.encode(clips).latent_dist.mode()
        decoded = vae.decode(latents + 0.05 * torch.randn_like(latents)).sample
        loss, mse = vae_loss(decoded, clips)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(decoder_parameters, 0.5)
        optimizer.step()
        scheduler.step()
        log.append(step=step, loss=loss.item(), mse=mse.item(), frames=num_frames, time=time.time())
        progress.set_postfix(loss=f"{loss.item():.4f}", mse=f"{mse.item():.4f}")
        checkpointer.maybe_save({"model": vae.state_dict(), "optimizer": optimizer.state_dict(), "step": step + 1})
    checkpointer.maybe_save({"model": vae.state_dict(), "optimizer": optimizer.state_dict(), "step": steps}, True)


def load_vae(decoder: bool = True) -> torch.nn.Module:
    """The trained VAE; with `decoder`, the refined decoder where stage 2b has run."""
    path = CACHE_DIR / "decoder.pt" if decoder and (CACHE_DIR / "decoder.pt").exists() else CACHE_DIR / "vae.pt"
    vae = build_vae()
    vae.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["model"])
    return vae.eval()


# ---------------------------------------------------------------- stage 2: latents


def size_path(size: str) -> Path:
    return CACHE_DIR / f"latents_{size}.pt"


def latent_frames(num_frames: int) -> int:
    return (num_frames - 1) // 4 + 1


@torch.no_grad()
def precompute_latents(clips_per_size: dict[str, int], batch_size: int = 8) -> None:
    """Encode a fixed training set of the longest clips once per size."""
    vae = load_vae(decoder=False)
    for size_index, size in enumerate(SIZES):
        path = size_path(size)
        if path.exists():
            continue
        width, height = parse_size(size)
        rng = random.Random(10_000_000 * (1 + size_index))
        specs = sample_clip_specs(rng, width, height, max(FRAME_COUNTS), clips_per_size[size])
        chunks = []
        for offset in tqdm(range(0, len(specs), batch_size), desc=f"latents {size}", mininterval=15):
            chunks.append(vae.encode(clips_to_tensor(specs[offset : offset + batch_size])).latent_dist.mode())
        torch.save({"latents": torch.cat(chunks), "specs": [asdict(spec) for spec in specs]}, path)


def latent_statistics(buckets: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std; shipped as vae.config latents_mean / latents_std so
    WanPipeline un-normalises exactly what the transformer was trained on."""
    flat = torch.cat([b["latents"].transpose(0, 1).flatten(1) for b in buckets.values()], dim=1)
    return flat.mean(dim=1), flat.std(dim=1)


def load_buckets() -> dict:
    """(size, frames) -> latents and clip specs. Shorter durations are prefixes of the
    long clips: the encoder is causal (first frame alone, then groups of four), so the
    first k latent frames of a clip are exactly the latents of its first 4(k-1)+1 frames."""
    buckets = {}
    for size in SIZES:
        stored = torch.load(size_path(size), weights_only=False)
        for num_frames in FRAME_COUNTS:
            length = latent_frames(num_frames)
            buckets[(size, num_frames)] = {
                "latents": stored["latents"][:, :, :length].contiguous(),
                "specs": [{**spec, "num_frames": num_frames} for spec in stored["specs"]],
            }
    return buckets


# ---------------------------------------------------------------- stage 3: transformer


def training_caption(spec: ClipSpec, rng: random.Random) -> str:
    draw = rng.random()
    if draw < CAPTION_DROPOUT / 2:
        return ""
    if draw < CAPTION_DROPOUT:
        return JUNK_NEGATIVE
    return caption_for(spec, rng)


def tokens_per_clip(latents: torch.Tensor, patch: tuple[int, int, int] = TRANSFORMER_PATCH) -> int:
    _, _, frames, height, width = latents.shape
    patch_frames, patch_height, patch_width = patch
    return frames // patch_frames * (height // patch_height) * (width // patch_width)


def sample_sigmas(count: int, generator: torch.Generator) -> torch.Tensor:
    """Noise levels with the sampler's own density: uniform times shifted by FLOW_SHIFT,
    as Wan is trained. Logit-normal times (few above 0.95) gave a model that denoised
    well but, sampled from pure noise, could not commit to a layout: the sampler spends
    a quarter of its steps above 0.9."""
    uniform = torch.rand(count, generator=generator)
    return FLOW_SHIFT * uniform / (1 + (FLOW_SHIFT - 1) * uniform)


@dataclass(frozen=True)
class Recipe:
    """What differs between transformer runs. `patterns`: cumulative shares of the per-frame
    noise patterns: one shared level (text-to-video, the task that ties text to motion),
    first latent clean (image-to-video), a clean prefix (continuation), first and last clean
    (loops); the rest draw every frame's level alone. `null_padding`: see compact_text."""

    null_padding: bool
    patterns: tuple[float, float, float, float]
    patch: tuple[int, int, int] = TRANSFORMER_PATCH


RECIPES = {
    "second-generation": Recipe(null_padding=False, patterns=(0.5, 0.68, 0.82, 0.9)),
    "null-padding": Recipe(null_padding=True, patterns=(0.75, 0.85, 0.95, 0.97)),
    # One token per latent pixel: an object then moves about one token per latent frame.
    "latent-pixel-tokens": Recipe(null_padding=True, patterns=(0.75, 0.85, 0.95, 0.97), patch=(1, 1, 1)),
}


def frame_sigmas(
    batch: int, frames: int, generator: torch.Generator, rng: random.Random, patterns: tuple[float, ...]
) -> torch.Tensor:
    """Noise level per latent frame, (batch, frames) ("diffusion forcing") in the shares of
    `patterns` (Recipe); clean frames (level 0) are the conditions."""
    sigmas = sample_sigmas(batch, generator)[:, None].repeat(1, frames)
    independent = sample_sigmas(batch * frames, generator).view(batch, frames)
    shared, first, prefix, loop = patterns
    for index in range(batch):
        draw = rng.random()
        if draw < shared:
            continue
        if draw < first:
            sigmas[index, 0] = 0
        elif draw < prefix:
            sigmas[index, : rng.randint(1, frames - 1)] = 0
        elif draw < loop:
            sigmas[index, [0, -1]] = 0
        else:
            sigmas[index] = independent[index]
    return sigmas


def token_timesteps(sigmas: torch.Tensor, tokens_per_frame: int) -> torch.Tensor:
    """(batch, frames) noise levels to the transformer's per-token timesteps (batch, tokens):
    Wan's patch embedding orders tokens frame by frame."""
    return (sigmas * 1000).repeat_interleave(tokens_per_frame, dim=1)


def train_transformer(steps: int, recipe: Recipe, run: str = "transformer", stop_at: int | None = None,
                      tokens_per_batch: int = 2560) -> None:  # fmt: skip
    """Flow matching; each batch comes from one (size, duration) bucket and holds about
    `tokens_per_batch` tokens, so short clips get larger batches at equal cost. `run` names
    the checkpoint (experiments side by side); `stop_at` pauses the schedule at that step,
    to be resumed later exactly where it stopped."""
    torch.manual_seed(SEED)
    buckets = load_buckets()
    mean, std = latent_statistics(buckets)
    shape = (1, -1, 1, 1, 1)
    normalised = {key: (b["latents"] - mean.view(shape)) / std.view(shape) for key, b in buckets.items()}
    specs = {key: [ClipSpec(**spec) for spec in b["specs"]] for key, b in buckets.items()}
    keys = sorted(normalised)

    tokenizer = build_tokenizer()
    networks = torch.nn.ModuleDict(
        {"text_encoder": build_text_encoder(len(tokenizer)), "transformer": build_transformer(recipe.patch)}
    )
    if recipe.null_padding:
        null_padding(networks["transformer"])
    cross_attention = install(networks["transformer"])
    trained = [parameter for parameter in networks.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=5e-4, betas=(0.9, 0.99), weight_decay=0.01)
    ema = ExponentialMovingAverage(networks, decay=0.998)
    checkpointer = Checkpointer(CACHE_DIR / f"{run}.pt")
    log = LossLog(CACHE_DIR / f"{run}_log.jsonl")
    start = 0
    if (state := checkpointer.load()) is not None:
        networks.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        ema.shadow = state["ema"]
        start = state["step"]
    log.truncate_after(start)
    scheduler = warmup_cosine_schedule(optimizer, steps, warmup=100, start=start)
    networks.train()
    end = min(steps, stop_at or steps)
    progress = tqdm(range(start, end), initial=start, total=steps, desc=run, mininterval=15)
    for step in progress:
        rng = random.Random(SEED * 7_000_003 + step)
        generator = torch.Generator().manual_seed(SEED + step)
        key = keys[step % len(keys)]  # one bucket per batch: shapes must match
        batch_size = max(8, tokens_per_batch // tokens_per_clip(normalised[key], recipe.patch))  # 32 clips of 64x64x17
        indices = [rng.randrange(len(specs[key])) for _ in range(batch_size)]
        clean = normalised[key][indices]
        prompts = [training_caption(specs[key][index], rng) for index in indices]
        noise = torch.randn(clean.shape, generator=generator)
        frames = clean.shape[2]
        sigmas = frame_sigmas(batch_size, frames, generator, rng, recipe.patterns)
        sigma = sigmas.view(batch_size, 1, frames, 1, 1)
        noisy = (1 - sigma) * clean + sigma * noise
        text, cross_attention.key_bias = encode_compact(tokenizer, networks["text_encoder"], prompts)
        timestep = token_timesteps(sigmas, tokens_per_clip(clean, recipe.patch) // frames)
        prediction = networks["transformer"](
            hidden_states=noisy, timestep=timestep, encoder_hidden_states=text, return_dict=False
        )[0]
        # Clean (conditioning) frames have nothing to predict.
        noisy_frames = (sigma > 0).float().expand_as(clean)
        squared = (prediction - (noise - clean)).pow(2) * noisy_frames
        loss = squared.sum() / noisy_frames.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        scheduler.step()
        ema.update(networks, step)
        log.append(step=step, loss=loss.item(), bucket=f"{key[0]}x{key[1]}f", time=time.time())
        progress.set_postfix(loss=f"{loss.item():.4f}")
        checkpointer.maybe_save(
            {"model": networks.state_dict(), "optimizer": optimizer.state_dict(), "ema": ema.shadow, "step": step + 1}
        )
    checkpointer.maybe_save(
        {"model": networks.state_dict(), "optimizer": optimizer.state_dict(), "ema": ema.shadow, "step": end}, True
    )


# ---------------------------------------------------------------- stage 4: export


def plot_loss_curves(path: Path, run: str = "transformer") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(14, 3.5))
    stages = (
        (axes[0], "vae", ("loss", "mse")),
        (axes[1], "decoder", ("loss", "mse")),
        (axes[2], run, ("loss",)),
    )
    for axis, name, keys in stages:
        rows = LossLog(CACHE_DIR / f"{name}_log.jsonl").read()
        if not rows:  # stage resumed from weights made elsewhere: nothing to plot
            continue
        for key in keys:
            values = np.array([row[key] for row in rows])
            window = max(1, len(values) // 50)
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            axis.plot(np.arange(len(smooth)) + window - 1, smooth, label=key)
        axis.set_yscale("log")
        axis.set_xlabel("step")
        axis.set_title(f"{name} (moving average)")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def export_pipeline(folder: Path, recipe: Recipe, run: str = "transformer") -> None:
    from diffusers import WanPipeline

    buckets = load_buckets()
    mean, std = latent_statistics(buckets)
    vae = load_vae()
    vae.register_to_config(latents_mean=mean.tolist(), latents_std=std.tolist())
    tokenizer = build_tokenizer()
    networks = torch.nn.ModuleDict(
        {"text_encoder": build_text_encoder(len(tokenizer)), "transformer": build_transformer(recipe.patch)}
    )
    state = torch.load(CACHE_DIR / f"{run}.pt", map_location="cpu", weights_only=False)
    networks.load_state_dict(state["model"])
    ema = ExponentialMovingAverage(networks, decay=0.0)
    ema.shadow = state["ema"]
    ema.copy_to(networks)
    pipeline = WanPipeline(
        tokenizer=tokenizer,
        text_encoder=networks["text_encoder"].eval(),
        vae=vae,
        transformer=networks["transformer"].eval(),
        scheduler=build_scheduler(),
    )
    pipeline.save_pretrained(folder, safe_serialization=True)
    plot_loss_curves(folder.parent / "loss_curves.png", run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=["all", "vae", "latents", "decoder", "transformer", "export"], default="all")
    parser.add_argument("--vae-steps", type=int, default=500)
    parser.add_argument("--decoder-steps", type=int, default=400)
    parser.add_argument("--clips-per-size", type=int, default=1024, help="for the default size; others get 5/8")
    parser.add_argument("--transformer-steps", type=int, default=2400)
    parser.add_argument("--transformer-run", default="transformer", help="checkpoint name in .cache/embedded/")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="second-generation")
    parser.add_argument("--stop-at", type=int, help="pause the transformer schedule at this step (resumable)")
    # Exported next to the checkpoints; evaluate it (evaluate.py --pipeline) against the
    # shipped model, then copy it to models/embedded/pipeline if it is better on every row.
    parser.add_argument("--export-dir", type=Path, default=CACHE_DIR / "export")
    # One thread: on a shared 2-core machine two OpenMP threads stall each other (5-8x slower).
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    print(f"fps={FPS}")
    if args.stage in ("all", "vae"):
        train_vae(args.vae_steps)
    if args.stage in ("all", "latents"):
        precompute_latents(
            {size: args.clips_per_size * (8 if index == 0 else 5) // 8 for index, size in enumerate(SIZES)}
        )
    if args.stage in ("all", "decoder"):  # independent of stage 3: may run at the same time
        train_decoder(args.decoder_steps)
    if args.stage in ("all", "transformer"):
        train_transformer(args.transformer_steps, RECIPES[args.recipe], args.transformer_run, args.stop_at)
    if args.stage in ("all", "export"):
        export_pipeline(args.export_dir, RECIPES[args.recipe], args.transformer_run)


if __name__ == "__main__":
    main()
