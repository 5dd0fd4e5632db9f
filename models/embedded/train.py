"""Train the embedded text-to-video model from scratch, in resumable stages.

    python -m models.embedded.train            # all stages: vae, latents, transformer, export
    python -m models.embedded.train --stage vae

Stages: (1) the Wan VAE, frame-wise, on rendered frames, (2) latents of a fixed clip set, encoded
once, (3) the Wan transformer and UMT5 text encoder jointly, by flow matching on those
latents, (4) export of a standard WanPipeline folder plus loss curves.
Intermediate state lives in .cache/embedded/; rerunning a stage resumes it.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.embedded import FPS, FRAME_COUNTS, PIPELINE_DIR, SIZES
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
from models.embedded.compact_text import encode_compact, install
from models.embedded.training_utils import (
    CACHE_DIR,
    Checkpointer,
    ExponentialMovingAverage,
    LossLog,
    warmup_cosine,
)
from models.embedded.world import ClipSpec, render, sample_spec


SEED = 1234
CAPTION_DROPOUT = 0.1
# The shipped VAE's history (MODEL_CARD.md): these steps trained on clips under 4x and
# then 1x temporal compression with learned temporal taps, before it became frame-wise.
VAE_CLIP_STEPS = (500, 752)
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


def make_framewise(vae: torch.nn.Module) -> None:
    """Zero, and keep at zero, every causal convolution tap that looks at past frames.

    The decoder then maps each latent frame to its video frame independently: no
    recurrence through the feature cache, so nothing drifts over a clip (with learned
    temporal taps, colour and position fell apart after a few frames at the clip-training
    budget this CPU allows). Temporal coherence is left to the transformer, which models
    the latent video jointly. The folder is still a standard AutoencoderKLWan.
    """
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d

    for module in vae.modules():
        if isinstance(module, WanCausalConv3d) and module.weight.shape[2] > 1:
            with torch.no_grad():
                module.weight[:, :, :-1] = 0
            module.weight.register_hook(lambda grad: torch.cat([torch.zeros_like(grad[:, :, :-1]), grad[:, :, -1:]], 2))


def train_vae(steps: int, batch_size: int = 16) -> None:
    """Frame-wise VAE, so training on single frames trains it for clips of any length."""
    torch.manual_seed(SEED)
    vae = build_vae()
    make_framewise(vae)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=3e-4, betas=(0.9, 0.99), weight_decay=0.0)
    checkpointer = Checkpointer(CACHE_DIR / "vae.pt")
    log = LossLog(CACHE_DIR / "vae_log.jsonl")
    start = 0
    if (state := checkpointer.load()) is not None:
        vae.load_state_dict(state["model"])
        if "optimizer" in state:  # absent in a warm start from weights of another configuration
            optimizer.load_state_dict(state["optimizer"])
        start = state["step"]
    log.truncate_after(start)
    for group in optimizer.param_groups:  # LambdaLR resumes from last_epoch only with initial_lr set
        group.setdefault("initial_lr", group["lr"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, steps, warmup=100), last_epoch=start - 1
    )
    vae.train()
    progress = tqdm(range(start, steps), initial=start, total=steps, desc="vae", mininterval=15)
    for step in progress:
        rng = random.Random(SEED * 1_000_003 + step)  # batch depends only on the step: exact resumes
        # Mostly square frames; every fourth batch wide, so both aspect ratios are seen.
        width, height = (96, 64) if step % 4 == 3 else (64, 64)
        specs = [sample_spec(rng.randrange(2**31), width, height, 1, split="train") for _ in range(batch_size)]
        clips = clips_to_tensor(specs)
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
        log.append(step=step, loss=loss.item(), mse=mse.item(), time=time.time())
        progress.set_postfix(loss=f"{loss.item():.4f}", mse=f"{mse.item():.4f}")
        checkpointer.maybe_save({"model": vae.state_dict(), "optimizer": optimizer.state_dict(), "step": step + 1})
    checkpointer.maybe_save({"model": vae.state_dict(), "optimizer": optimizer.state_dict(), "step": steps}, True)


def load_vae() -> torch.nn.Module:
    vae = build_vae()
    vae.load_state_dict(torch.load(CACHE_DIR / "vae.pt", map_location="cpu", weights_only=False)["model"])
    return vae.eval()


# ---------------------------------------------------------------- stage 2: latents


def size_path(size: str) -> Path:
    return CACHE_DIR / f"latents_{size}.pt"


@torch.no_grad()
def encode_framewise(vae: torch.nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """Encode each frame on its own (exact for this frame-wise VAE). Unlike vae.encode,
    which only consumes 1 + 4k frames, this handles any length."""
    batch, channels, frames, height, width = clips.shape
    singles = clips.transpose(1, 2).reshape(batch * frames, channels, 1, height, width)
    latents = vae.encode(singles).latent_dist.mode()
    return latents.reshape(batch, frames, *latents.shape[1:2], *latents.shape[3:]).transpose(1, 2)


def generated_frames(num_frames: int) -> int:
    """Frames WanPipeline produces for a request of `num_frames`: it rounds to
    n * scale_factor_temporal + 1, and this frame-wise VAE has scale 1. Training uses
    the same lengths, so the transformer never samples a length it was not trained on."""
    return num_frames + 1


@torch.no_grad()
def precompute_latents(clips_per_size: int, batch_size: int = 16) -> None:
    """Encode a fixed training set of the longest clips once per size."""
    vae = load_vae()
    for size_index, size in enumerate(SIZES):
        path = size_path(size)
        if path.exists():
            continue
        width, height = parse_size(size)
        base_seed = 10_000_000 * (1 + size_index)
        specs = [
            replace(spec, num_frames=generated_frames(spec.num_frames))
            for spec in (
                sample_spec(base_seed + index, width, height, max(FRAME_COUNTS), split="train")
                for index in range(clips_per_size)
            )
        ]
        chunks = []
        for offset in tqdm(range(0, len(specs), batch_size), desc=f"latents {size}", mininterval=15):
            chunks.append(encode_framewise(vae, clips_to_tensor(specs[offset : offset + batch_size])))
        torch.save({"latents": torch.cat(chunks), "specs": [asdict(spec) for spec in specs]}, path)


def latent_statistics(buckets: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std; shipped as vae.config latents_mean / latents_std so
    WanPipeline un-normalises exactly what the transformer was trained on."""
    flat = torch.cat([b["latents"].transpose(0, 1).flatten(1) for b in buckets.values()], dim=1)
    return flat.mean(dim=1), flat.std(dim=1)


def load_buckets() -> dict:
    """(size, frames) -> latents and clip specs. Shorter durations are prefixes of the
    long clips: the encoder is causal with no temporal compression, so the first n
    latent frames of a clip are exactly the latents of its first n frames."""
    buckets = {}
    for size in SIZES:
        stored = torch.load(size_path(size), weights_only=False)
        for num_frames in FRAME_COUNTS:
            length = generated_frames(num_frames)
            buckets[(size, num_frames)] = {
                "latents": stored["latents"][:, :, :length].contiguous(),
                "specs": [{**spec, "num_frames": length} for spec in stored["specs"]],
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


def tokens_per_clip(latents: torch.Tensor) -> int:
    _, _, frames, height, width = latents.shape
    patch_frames, patch_height, patch_width = TRANSFORMER_PATCH
    return frames // patch_frames * (height // patch_height) * (width // patch_width)


def sample_sigmas(count: int, generator: torch.Generator) -> torch.Tensor:
    """Noise levels with the sampler's own density: uniform times shifted by FLOW_SHIFT,
    as Wan is trained. Logit-normal times (few above 0.95) gave a model that denoised
    well but, sampled from pure noise, could not commit to a layout: the sampler spends
    a quarter of its steps above 0.9."""
    uniform = torch.rand(count, generator=generator)
    return FLOW_SHIFT * uniform / (1 + (FLOW_SHIFT - 1) * uniform)


def train_transformer(steps: int, tokens_per_batch: int = 3072) -> None:
    """Flow matching; each batch comes from one (size, duration) bucket and holds about
    `tokens_per_batch` tokens, so short clips get larger batches at equal cost."""
    torch.manual_seed(SEED)
    buckets = load_buckets()
    mean, std = latent_statistics(buckets)
    shape = (1, -1, 1, 1, 1)
    normalised = {key: (b["latents"] - mean.view(shape)) / std.view(shape) for key, b in buckets.items()}
    specs = {key: [ClipSpec(**spec) for spec in b["specs"]] for key, b in buckets.items()}
    keys = sorted(normalised)

    tokenizer = build_tokenizer()
    networks = torch.nn.ModuleDict(
        {"text_encoder": build_text_encoder(len(tokenizer)), "transformer": build_transformer()}
    )
    cross_attention = install(networks["transformer"])
    optimizer = torch.optim.AdamW(networks.parameters(), lr=5e-4, betas=(0.9, 0.99), weight_decay=0.01)
    ema = ExponentialMovingAverage(networks, decay=0.998)
    checkpointer = Checkpointer(CACHE_DIR / "transformer.pt")
    log = LossLog(CACHE_DIR / "transformer_log.jsonl")
    start = 0
    if (state := checkpointer.load()) is not None:
        networks.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        ema.shadow = state["ema"]
        start = state["step"]
    log.truncate_after(start)
    for group in optimizer.param_groups:  # LambdaLR resumes from last_epoch only with initial_lr set
        group.setdefault("initial_lr", group["lr"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, steps, warmup=100), last_epoch=start - 1
    )
    networks.train()
    progress = tqdm(range(start, steps), initial=start, total=steps, desc="transformer", mininterval=15)
    for step in progress:
        rng = random.Random(SEED * 7_000_003 + step)
        generator = torch.Generator().manual_seed(SEED + step)
        key = keys[step % len(keys)]  # one bucket per batch: shapes must match
        batch_size = max(8, tokens_per_batch // tokens_per_clip(normalised[key]))
        indices = [rng.randrange(len(specs[key])) for _ in range(batch_size)]
        clean = normalised[key][indices]
        prompts = [training_caption(specs[key][index], rng) for index in indices]
        noise = torch.randn(clean.shape, generator=generator)
        sigma = sample_sigmas(batch_size, generator).view(-1, 1, 1, 1, 1)
        noisy = (1 - sigma) * clean + sigma * noise
        text, cross_attention.key_bias = encode_compact(tokenizer, networks["text_encoder"], prompts)
        prediction = networks["transformer"](
            hidden_states=noisy, timestep=sigma.flatten() * 1000, encoder_hidden_states=text, return_dict=False
        )[0]
        loss = (prediction - (noise - clean)).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(networks.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        ema.update(networks, step)
        log.append(step=step, loss=loss.item(), bucket=f"{key[0]}x{key[1]}f", time=time.time())
        progress.set_postfix(loss=f"{loss.item():.4f}")
        checkpointer.maybe_save(
            {"model": networks.state_dict(), "optimizer": optimizer.state_dict(), "ema": ema.shadow, "step": step + 1}
        )
    checkpointer.maybe_save(
        {"model": networks.state_dict(), "optimizer": optimizer.state_dict(), "ema": ema.shadow, "step": steps}, True
    )


# ---------------------------------------------------------------- stage 4: export


def plot_loss_curves(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for axis, name, keys in ((axes[0], "vae", ("loss", "mse")), (axes[1], "transformer", ("loss",))):
        rows = LossLog(CACHE_DIR / f"{name}_log.jsonl").read()
        if not rows:  # stage resumed from weights made elsewhere: nothing to plot
            continue
        for key in keys:
            values = np.array([row[key] for row in rows])
            window = max(1, len(values) // 50)
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            axis.plot(np.arange(len(smooth)) + window - 1, smooth, label=key)
        if name == "vae":
            axis.axvspan(*VAE_CLIP_STEPS, color="grey", alpha=0.2, label="clip steps, temporal configs")
        axis.set_yscale("log")
        axis.set_xlabel("step")
        axis.set_title(f"{name} (moving average)")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def export_pipeline() -> None:
    from diffusers import WanPipeline

    buckets = load_buckets()
    mean, std = latent_statistics(buckets)
    vae = load_vae()
    vae.register_to_config(latents_mean=mean.tolist(), latents_std=std.tolist())
    tokenizer = build_tokenizer()
    networks = torch.nn.ModuleDict(
        {"text_encoder": build_text_encoder(len(tokenizer)), "transformer": build_transformer()}
    )
    state = torch.load(CACHE_DIR / "transformer.pt", map_location="cpu", weights_only=False)
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
    pipeline.save_pretrained(PIPELINE_DIR, safe_serialization=True)
    plot_loss_curves(PIPELINE_DIR.parent / "loss_curves.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=["all", "vae", "latents", "transformer", "export"], default="all")
    parser.add_argument("--vae-steps", type=int, default=1100)
    parser.add_argument("--clips-per-size", type=int, default=1024)
    parser.add_argument("--transformer-steps", type=int, default=1800)
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
        precompute_latents(args.clips_per_size)
    if args.stage in ("all", "transformer"):
        train_transformer(args.transformer_steps)
    if args.stage in ("all", "export"):
        export_pipeline()


if __name__ == "__main__":
    main()
