"""Noise levels of a running schedule, read from the pipeline's own scheduler.

Flow-matching schedulers (FlowMatchEuler, UniPC/DPM with flow sigmas) hold `sigmas` and a latent
at level s is `(1 - s) * x0 + s * noise`; DDPM-style ones (CogVideoX's DDIM/DPM) noise with
`add_noise(x0, noise, t)`. Position i of the schedule is the level the latents are at *before*
step i; position len(timesteps) is the end (clean).
"""

import torch


def is_flow(scheduler) -> bool:
    config = scheduler.config
    return (
        "FlowMatch" in type(scheduler).__name__
        or bool(config.get("use_flow_sigmas"))
        or config.get("prediction_type") == "flow_prediction"
    )


def noised(scheduler, x0: torch.Tensor, noise: torch.Tensor, position: int) -> torch.Tensor:
    """`x0` at the noise level of `position` in the scheduler's current schedule."""
    timesteps = scheduler.timesteps
    if position >= len(timesteps):
        if is_flow(scheduler):
            # The final sigma is 0 for every shipped config; honour it if one ends above.
            sigma = float(scheduler.sigmas[-1])
            return (1.0 - sigma) * x0 + sigma * noise
        return x0
    if is_flow(scheduler):
        sigma = float(scheduler.sigmas[position])
        return (1.0 - sigma) * x0 + sigma * noise
    t = timesteps[position : position + 1].to(x0.device)
    return scheduler.add_noise(x0, noise, t)


def kept_steps(num_inference_steps: int, strength: float) -> int:
    """How many of the steps an SDEdit at `strength` runs (diffusers' img2img arithmetic)."""
    return max(1, min(int(num_inference_steps * strength), num_inference_steps))


def trim(scheduler, keep: int) -> None:
    """Keep only the last `keep` steps of the schedule just set (SDEdit starts part-way down)."""
    start = len(scheduler.timesteps) - keep
    if start <= 0:
        return
    scheduler.timesteps = scheduler.timesteps[start:]
    sigmas = getattr(scheduler, "sigmas", None)
    if isinstance(sigmas, torch.Tensor) and len(sigmas) > start:
        scheduler.sigmas = sigmas[start:]
    # Step indices are found again from the trimmed timesteps on the first step.
    if hasattr(scheduler, "_step_index"):
        scheduler._step_index = None
    if hasattr(scheduler, "_begin_index"):
        scheduler._begin_index = None
