"""Exact speed-ups for Wan-architecture pipelines on CPU (the embedded model's home).

They change how the same numbers are computed, not what is computed (frames agree with stock
diffusers to float rounding; tests/models/test_cpu_speedups.py):

- Text padding folded into one key. WanPipeline pads every prompt's embeddings with zero rows to
  512 tokens, and cross-attention projects and attends over all of them at every step. The zero
  rows are identical keys with identical values, so attending over `n` of them equals attending
  over one with `log(n)` added to its score. For a small model this was two thirds of a step.
- Both guidance passes in one call. WanPipeline runs the transformer twice per step (prompt,
  then negative prompt) on the same latents; one call on a batch of twice the size costs less
  than two, most of all for one video, where a call is mostly fixed overhead.
- Convolutions through oneDNN at batch 1. PyTorch sends single-video, single-thread 3x3x3
  convolutions on small inputs to its slow reference kernel (ATen `use_mkldnn`), so the VAE
  decoded one video in about the time oneDNN decodes two.
- Causal 3x3x3 convolutions whose past-frame taps are all zero (the embedded VAE's: only its
  resampling convolutions mix frames) run as 3x3 convolutions over every frame at once: the
  zero taps cost two thirds of the arithmetic and the cached frames they multiply.
- The prompt encoded on its own tokens. WanPipeline pads every prompt to 512 tokens before the
  text encoder, then keeps only the prompt's own positions (zeros after them). Under the
  attention mask those positions do not depend on the padding, so the encoder runs on the
  longest prompt's length; for the embedded model the 512-long pass was 15 % of a video.
- The VAE's RMS norms over channels as a sum of squares and one reciprocal square root.
  `F.normalize` over dim 1 of a (batch, channels, frames, height, width) tensor takes
  PyTorch's strided-reduction path, 1.5-10x slower on CPU than the same sum written out.
"""

import math

import torch
import torch.nn.functional as F
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


def _fold(text: torch.Tensor, copies: _PaddingCopies) -> torch.Tensor:
    """`text` cut after every prompt's tokens and one padding row; `copies` says how many rows
    that last one stands for."""
    used = text.abs().amax(dim=-1) != 0  # (batch, tokens): rows that are not padding
    if used[:, -1].any():
        copies.count = 1
        return text  # some prompt fills every position: nothing to fold
    positions = torch.arange(1, text.shape[1] + 1, device=text.device)
    keep = int((used * positions).amax()) + 1
    copies.count = text.shape[1] - keep + 1
    return text[:, :keep]


def speed_up_transformer(pipeline, transformer, merge_guidance: bool, fold_padding: bool = True) -> bool:
    """Fold text padding in a text-only Wan transformer and, with `merge_guidance`, run
    WanPipeline's conditional and unconditional passes as one batch of twice the size (one call
    instead of two per step). False when the transformer is not one this applies to.

    A compiled transformer wants `fold_padding=False`: the folded key length follows the prompts,
    and each new length would compile again."""
    blocks = getattr(transformer, "blocks", None)
    if not blocks or any(getattr(block.attn2, "add_k_proj", None) is not None for block in blocks):
        return False  # not Wan, or image-conditioned cross-attention (its keys are split by position)
    copies = _PaddingCopies()
    if fold_padding:
        for block in blocks:
            block.attn2.set_processor(FoldedPaddingAttnProcessor(copies))
    stock_forward = transformer.forward
    # The prompt embeddings of the running call with their negative ones (WanPipeline.encode_prompt),
    # and the unconditional prediction made together with the conditional one.
    guidance = {"pair": None, "uncond": None}

    def forward(hidden_states, timestep, encoder_hidden_states, encoder_hidden_states_image=None, **kwargs):
        pair, uncond = guidance["pair"], guidance["uncond"]
        guidance["uncond"] = None
        early = uncond is not None and pair is not None and encoder_hidden_states is pair[1]
        if early and uncond[0] is hidden_states and uncond[1] is timestep:
            return _as_output(uncond[2], kwargs.get("return_dict", True))
        batch = hidden_states.shape[0]
        merged = (
            pair is not None
            and encoder_hidden_states is pair[0]
            and encoder_hidden_states_image is None
            and timestep.ndim == 1
        )
        if merged:
            text = torch.cat(pair)
            hidden, steps = torch.cat([hidden_states, hidden_states]), torch.cat([timestep, timestep])
        else:
            text, hidden, steps = encoder_hidden_states, hidden_states, timestep
        if fold_padding and encoder_hidden_states_image is None:
            text = _fold(text, copies)
        else:
            copies.count = 1
        output = stock_forward(hidden, steps, text, encoder_hidden_states_image, **{**kwargs, "return_dict": False})[0]
        if not merged:
            return _as_output(output, kwargs.get("return_dict", True))
        guidance["uncond"] = (hidden_states, timestep, output[batch:])
        return _as_output(output[:batch], kwargs.get("return_dict", True))

    transformer.forward = forward
    if merge_guidance and transformer is getattr(pipeline, "transformer", None):
        stock_encode = pipeline.encode_prompt

        def encode_prompt(*args, **kwargs):
            prompt_embeds, negative_prompt_embeds = stock_encode(*args, **kwargs)
            both = negative_prompt_embeds is not None and negative_prompt_embeds.shape == prompt_embeds.shape
            guidance["pair"] = (prompt_embeds, negative_prompt_embeds) if both else None
            guidance["uncond"] = None
            return prompt_embeds, negative_prompt_embeds

        pipeline.encode_prompt = encode_prompt
    return True


def _as_output(sample: torch.Tensor, return_dict: bool):
    from diffusers.models.modeling_outputs import Transformer2DModelOutput

    return Transformer2DModelOutput(sample=sample) if return_dict else (sample,)


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


def prompt_length_text_encoder(text_encoder: torch.nn.Module) -> None:
    """Run a Wan text encoder (UMT5, called as `encoder(ids, mask)` by WanPipeline) on the
    longest prompt's tokens, with zeros standing for the right padding's outputs (which the
    pipeline replaces by zeros anyway)."""
    stock = text_encoder.forward

    def forward(input_ids=None, attention_mask=None, *args, **kwargs):
        if input_ids is None or attention_mask is None or args or kwargs:
            return stock(input_ids, attention_mask, *args, **kwargs)
        full = input_ids.shape[1]
        used = int(attention_mask.sum(dim=1).max())
        if used == 0 or used >= full or attention_mask[:, used:].any():
            return stock(input_ids, attention_mask)  # nothing to cut, or padding on the left
        output = stock(input_ids[:, :used], attention_mask[:, :used])
        hidden = output.last_hidden_state
        output["last_hidden_state"] = torch.cat(
            [hidden, hidden.new_zeros(hidden.shape[0], full - used, hidden.shape[2])], 1
        )
        return output

    text_encoder.forward = forward


def _present_frame_forward(conv):
    pad_width, _, pad_height, _, _, _ = conv._padding  # WanCausalConv3d's (W, W, H, H, T, 0)
    stride, dilation = conv.stride[1:], conv.dilation[1:]

    def forward(x, cache_x=None):  # the cached past frames meet only zero taps
        batch, _, frames, _, _ = x.shape
        images = F.pad(x.transpose(1, 2).flatten(0, 1), (pad_width, pad_width, pad_height, pad_height))
        out = F.conv2d(images, conv.weight[:, :, -1], conv.bias, stride, 0, dilation, conv.groups)
        return out.unflatten(0, (batch, frames)).transpose(1, 2)

    return forward


def present_frame_convolutions(vae: torch.nn.Module) -> int:
    """Run each causal convolution of `vae` whose past-frame taps are all zero as a 3x3
    convolution of every frame on its own; returns how many. Any other convolution is left as
    it is (a real Wan VAE's taps are not zero, so nothing changes there)."""
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d

    changed = 0
    for conv in vae.modules():
        if not isinstance(conv, WanCausalConv3d) or conv.kernel_size[0] == 1:
            continue
        if conv.stride[0] != 1 or conv.dilation[0] != 1 or torch.count_nonzero(conv.weight[:, :, :-1]) > 0:
            continue
        conv.forward = _present_frame_forward(conv)
        changed += 1
    return changed


def _rms_norm_forward(norm):
    def forward(x):
        squares = (x * x).sum(dim=1, keepdim=True).clamp_min(1e-24)  # F.normalize's eps, squared
        return x * squares.rsqrt() * (norm.scale * norm.gamma) + norm.bias

    return forward


def channel_rms_norms(vae: torch.nn.Module) -> int:
    """Channel-first RMS norms of a Wan VAE written as a sum of squares; returns how many."""
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanRMS_norm

    changed = 0
    for norm in vae.modules():
        if isinstance(norm, WanRMS_norm) and norm.channel_first:
            norm.forward = _rms_norm_forward(norm)
            changed += 1
    return changed


def apply_cpu_speedups(pipeline, merge_guidance: bool = True, fold_padding: bool = True) -> None:
    """The speed-ups where the pipeline has the parts (any Wan-architecture pipeline on CPU).

    With merged guidance passes a step cache (First Block Cache, TaylorSeer) keeps one state, in
    its "cond" context, for both passes: it predicts or skips them together, as it already does
    for the videos of a batch.
    """
    wan = False
    for name in ("transformer", "transformer_2"):  # Wan 2.2 A14B has a second expert
        if type(getattr(pipeline, name, None)).__name__ == "WanTransformer3DModel":
            speed_up_transformer(pipeline, getattr(pipeline, name), merge_guidance, fold_padding)
            wan = True
    if wan and type(getattr(pipeline, "text_encoder", None)).__name__ == "UMT5EncoderModel":
        prompt_length_text_encoder(pipeline.text_encoder)
    if type(getattr(pipeline, "vae", None)).__name__ == "AutoencoderKLWan":
        present_frame_convolutions(pipeline.vae)
        onednn_convolutions(pipeline.vae)
        channel_rms_norms(pipeline.vae)
