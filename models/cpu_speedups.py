"""Exact speed-ups for Wan-architecture pipelines on CPU (the embedded model's home).

Both change how the same numbers are computed, not what is computed (frames agree with stock
diffusers to float rounding; tests/models/test_cpu_speedups.py):

- Text padding folded into one key. WanPipeline pads every prompt's embeddings with zero rows to
  512 tokens, and cross-attention projects and attends over all of them at every step. The zero
  rows are identical keys with identical values, so attending over `n` of them equals attending
  over one with `log(n)` added to its score. For a small model this was two thirds of a step.
- Convolutions through oneDNN at batch 1. PyTorch sends single-video, single-thread 3x3x3
  convolutions on small inputs to its slow reference kernel (ATen `use_mkldnn`), so the VAE
  decoded one video in about the time oneDNN decodes two.
"""

import math

import torch
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.transformers.transformer_wan import WanAttnProcessor


class _PaddingCopies:
    """How many zero rows the last key of the call being run stands for (1: nothing folded)."""

    def __init__(self):
        self.count = 1


class FoldedPaddingAttnProcessor(WanAttnProcessor):
    """Wan cross-attention whose last key stands for `copies.count` identical padding keys."""

    def __init__(self, copies: _PaddingCopies):
        super().__init__()
        self.copies = copies

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        if self.copies.count == 1 or encoder_hidden_states is None:
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)
        query = attn.norm_q(attn.to_q(hidden_states)).unflatten(2, (attn.heads, -1))
        key = attn.norm_k(attn.to_k(encoder_hidden_states)).unflatten(2, (attn.heads, -1))
        value = attn.to_v(encoder_hidden_states).unflatten(2, (attn.heads, -1))
        bias = torch.zeros(1, 1, 1, key.shape[1], dtype=query.dtype, device=query.device)
        bias[..., -1] = math.log(self.copies.count)
        hidden_states = dispatch_attention_fn(
            query, key, value, attn_mask=bias, dropout_p=0.0, is_causal=False, backend=self._attention_backend
        )
        hidden_states = hidden_states.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](hidden_states))


def fold_text_padding(transformer) -> bool:
    """Fold the zero padding of text embeddings in a text-only Wan transformer; False if it cannot."""
    blocks = getattr(transformer, "blocks", None)
    if not blocks or any(getattr(block.attn2, "add_k_proj", None) is not None for block in blocks):
        return False  # not Wan, or image-conditioned cross-attention (its keys are split by position)
    copies = _PaddingCopies()
    for block in blocks:
        block.attn2.set_processor(FoldedPaddingAttnProcessor(copies))

    def trim(module, args, kwargs):
        text = kwargs.get("encoder_hidden_states")
        copies.count = 1
        if text is None or kwargs.get("encoder_hidden_states_image") is not None:
            return None
        used = text.abs().amax(dim=-1) != 0  # (batch, tokens): rows that are not padding
        if used[:, -1].any():
            return None  # some prompt fills every position: nothing to fold
        positions = torch.arange(1, text.shape[1] + 1, device=text.device)
        keep = int((used * positions).amax()) + 1  # every prompt's tokens and one padding row
        copies.count = text.shape[1] - keep + 1
        return args, {**kwargs, "encoder_hidden_states": text[:, :keep]}

    transformer.register_forward_pre_hook(trim, with_kwargs=True)
    return True


def _onednn_conv_forward(conv):
    stock = conv._conv_forward

    def forward(input, weight, bias):
        if input.device.type == "cpu" and input.dtype == torch.float32 and input.shape[0] == 1:
            return torch.ops.aten.mkldnn_convolution(
                input, weight, bias, conv.padding, conv.stride, conv.dilation, conv.groups
            )
        return stock(input, weight, bias)

    return forward


def onednn_convolutions(module: torch.nn.Module) -> int:
    """Route single-item 3x3(x3) convolutions of `module` through oneDNN; returns how many."""
    changed = 0
    for conv in module.modules():
        if not isinstance(conv, torch.nn.Conv2d | torch.nn.Conv3d) or conv.padding_mode != "zeros":
            continue
        if isinstance(conv.padding, str) or all(side == 1 for side in conv.kernel_size):
            continue  # 1x1: the reference kernel is the faster one single-threaded
        conv._conv_forward = _onednn_conv_forward(conv)
        changed += 1
    return changed


def apply_cpu_speedups(pipeline) -> None:
    """Both speed-ups where the pipeline has the parts (any Wan-architecture pipeline on CPU)."""
    for name in ("transformer", "transformer_2"):  # Wan 2.2 A14B has a second expert
        if type(getattr(pipeline, name, None)).__name__ == "WanTransformer3DModel":
            fold_text_padding(getattr(pipeline, name))
    if type(getattr(pipeline, "vae", None)).__name__ == "AutoencoderKLWan":
        onednn_convolutions(pipeline.vae)
