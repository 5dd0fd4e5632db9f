"""The text side shared by the tiny pipelines: a local word tokenizer and a T5-style encoder."""

from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

from models.tokenizer import build_word_tokenizer


WORDS = [
    "a",
    "an",
    "the",
    "red",
    "green",
    "blue",
    "yellow",
    "white",
    "black",
    "cat",
    "dog",
    "bird",
    "car",
    "ball",
    "circle",
    "square",
    "moving",
    "left",
    "right",
    "up",
    "down",
]


def tiny_tokenizer(model_max_length: int) -> PreTrainedTokenizerFast:
    return build_word_tokenizer(WORDS, model_max_length=model_max_length)


def tiny_t5_encoder(tokenizer: PreTrainedTokenizerFast, *, umt5: bool = False, d_ff: int = 37):
    """A 2-layer, 32-wide encoder; Wan's family uses UMT5, the others plain T5."""
    config_class, model_class = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    return model_class(
        config_class(
            vocab_size=len(tokenizer),
            d_model=32,
            d_kv=8,
            d_ff=d_ff,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
    )
