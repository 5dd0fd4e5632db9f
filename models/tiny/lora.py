"""A tiny seeded LoRA for the tiny Wan transformer, saved the way published adapters are."""

from pathlib import Path

import torch
from diffusers import WanPipeline


# The attention projections step-distilled Wan LoRAs adapt.
TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0"]


def build_lora(transformer, target: Path, seed: int = 0, rank: int = 4, weight_name: str = "lora.safetensors") -> Path:
    """Random (seeded) LoRA weights for `transformer`'s attention, saved to `target/weight_name`.

    The weights are large enough to change the output visibly, so a test can tell it was fused.
    """
    from peft import LoraConfig, get_peft_model_state_dict

    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=rank, target_modules=TARGET_MODULES, init_lora_weights=False)
    transformer.add_adapter(config, adapter_name="tiny")
    layers = get_peft_model_state_dict(transformer, adapter_name="tiny")
    transformer.delete_adapters("tiny")
    WanPipeline.save_lora_weights(target, transformer_lora_layers=layers, weight_name=weight_name)
    return target / weight_name
