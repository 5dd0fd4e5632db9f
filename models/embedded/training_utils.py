"""Checkpointing, logging and schedules shared by the training stages."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch


CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "embedded"
CHECKPOINT_EVERY_SECONDS = 180


def warmup_cosine(step: int, total: int, warmup: int, floor: float = 0.1) -> float:
    """LR multiplier: linear warm-up (the VAE diverges without it), cosine decay to `floor`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine_schedule(
    optimizer: torch.optim.Optimizer, total: int, warmup: int, start: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """`warmup_cosine` as a scheduler that resumes at step `start` of a restored optimizer."""
    for group in optimizer.param_groups:  # LambdaLR resumes from last_epoch only with initial_lr set
        group.setdefault("initial_lr", group["lr"])
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total, warmup=warmup), last_epoch=start - 1
    )


class Checkpointer:
    """Saves `state()` atomically every few minutes so a killed run resumes where it was."""

    def __init__(self, path: Path):
        self.path = path
        self.last_save = time.monotonic()

    def load(self) -> dict | None:
        if self.path.exists():
            return torch.load(self.path, map_location="cpu", weights_only=False)
        return None

    def maybe_save(self, state: dict, force: bool = False) -> None:
        if force or time.monotonic() - self.last_save > CHECKPOINT_EVERY_SECONDS:
            temporary = self.path.with_suffix(".tmp")
            torch.save(state, temporary)
            temporary.replace(self.path)
            self.last_save = time.monotonic()


class LossLog:
    """Append-only JSON lines, kept across resumes, read back for the loss-curve plot."""

    def __init__(self, path: Path):
        self.path = path

    def truncate_after(self, step: int) -> None:
        # After a resume, drop entries logged past the checkpoint so curves stay monotone.
        if self.path.exists():
            rows = [row for row in self.read() if row["step"] < step]
            self.path.write_text("".join(json.dumps(row) + "\n" for row in rows))

    def append(self, **row) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


class ExponentialMovingAverage:
    """EMA of parameters; the shipped weights are the averaged ones (smoother samples)."""

    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {name: p.detach().clone() for name, p in module.named_parameters()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for name, parameter in module.named_parameters():
            self.shadow[name].lerp_(parameter.detach(), 1 - decay)

    @torch.no_grad()
    def copy_to(self, module: torch.nn.Module) -> None:
        for name, parameter in module.named_parameters():
            parameter.copy_(self.shadow[name])
