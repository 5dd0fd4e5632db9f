"""A word-level tokenizer built locally (no hub), saved in the standard transformers format.

Tiny test pipelines and small models trained here use it in place of a downloaded T5 tokenizer;
`AutoTokenizer.from_pretrained` loads it back like any other.
"""

from collections.abc import Iterable

from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast


SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")


def build_word_tokenizer(words: Iterable[str], model_max_length: int = 64) -> PreTrainedTokenizerFast:
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for word in words:
        vocab.setdefault(word.lower(), len(vocab))
    core = Tokenizer(WordLevel(vocab=vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    # Punctuation becomes its own token, so "right," and "right" share an id.
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=model_max_length,
    )
