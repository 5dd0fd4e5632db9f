"""Training-time shortcut for WanPipeline's 512-long zero-padded prompt embeddings.

WanPipeline pads every prompt embedding with zeros to 512 tokens and the transformer
cross-attends to all of them. The padded keys are identical, so a softmax over N of
them equals one such key with log(N) added to its logit. Training uses a short
padding plus that bias: the same function as sampling, at about a third of the cost.
"""

from __future__ import annotations

import torch
from diffusers.models.transformers.transformer_wan import WanAttnProcessor

from models.embedded.architecture import MAX_SEQUENCE_LENGTH


class BiasedPaddingCrossAttention(WanAttnProcessor):
    """Cross-attention that adds `key_bias` (B, 1, 1, keys) to the attention logits."""

    key_bias: torch.Tensor | None = None

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        return super().__call__(attn, hidden_states, encoder_hidden_states, self.key_bias, rotary_emb)


# Initial scale of the cross-attention key norm: logits between a query and the prompt's
# tokens then span a few units from the start, enough to outweigh ~500 null padding keys.
CROSS_ATTENTION_KEY_SCALE = 2.0


def null_padding(transformer) -> None:
    """Make the zero padding keys ignorable: with no bias in the text projection and in
    the cross-attention key and value projections, a zero embedding becomes a zero key
    (logit 0) with a zero value, so padding only absorbs attention mass and adds nothing.
    With biases, every padding key was one learned constant key whose value was mixed
    into every output (the prompt's tokens got 25-50 % of the attention in the second
    generation). The biases stay in the state dict as zeros: the folder is a standard one."""
    biases = [transformer.condition_embedder.text_embedder.linear_1.bias,
              transformer.condition_embedder.text_embedder.linear_2.bias]  # fmt: skip
    for block in transformer.blocks:
        biases += [block.attn2.to_k.bias, block.attn2.to_v.bias]
    with torch.no_grad():
        for bias in biases:
            bias.zero_()
            bias.requires_grad_(False)
        for block in transformer.blocks:
            block.attn2.norm_k.weight.fill_(CROSS_ATTENTION_KEY_SCALE)


def install(transformer) -> BiasedPaddingCrossAttention:
    processor = BiasedPaddingCrossAttention()
    for block in transformer.blocks:
        block.attn2.set_processor(processor)
    return processor


def encode_compact(tokenizer, text_encoder, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings with at least one zero (padding) key per prompt, and the logit bias
    that makes those zero keys weigh as much as the pipeline's 512 - length of them."""
    inputs = tokenizer(prompts, padding="longest", truncation=True, return_tensors="pt")
    mask = inputs.attention_mask
    hidden = text_encoder(inputs.input_ids, mask).last_hidden_state * mask.unsqueeze(-1)
    hidden = torch.cat([hidden, hidden.new_zeros(hidden.shape[0], 1, hidden.shape[2])], dim=1)
    mask = torch.cat([mask, mask.new_zeros(mask.shape[0], 1)], dim=1)
    lengths = mask.sum(dim=1)
    pads_here = mask.shape[1] - lengths
    pad_bias = torch.log((MAX_SEQUENCE_LENGTH - lengths).float() / pads_here.float())
    bias = torch.where(mask.bool(), torch.zeros(()), pad_bias[:, None])
    return hidden, bias[:, None, None, :]
