"""Reply checks: a caption passes cleaned up; anything else names the reason it was refused."""

import pytest

from app.expansion.checks import Rejected, check_caption


PROMPT = 'two corgis running on a beach holding a sign that says "HELLO"'
CAPTION = (
    'Two fluffy corgis run side by side along a sunlit beach, one holding a small wooden sign that reads "HELLO". '
    "Waves roll in behind them; warm afternoon light; low tracking shot following their motion."
)


def test_a_good_caption_passes_unchanged():
    assert check_caption(PROMPT, CAPTION, 2000) == CAPTION


@pytest.mark.parametrize(
    "wrapped",
    [f'"{CAPTION}"', f"Caption: {CAPTION}", f"**Caption:** {CAPTION}", f"\n\n  {CAPTION}\n", f"“{CAPTION}”"],
)
def test_labels_quotes_and_markdown_are_stripped(wrapped):
    assert check_caption(PROMPT, wrapped, 2000) == CAPTION


def test_the_embedded_grammar_renaming_still_counts_as_on_topic():
    caption = "a small yellow square moves up and to the right quickly on a plain dark grey background."
    prompt = "tiny yellow box racing towards the top right, dark grey backdrop"
    assert check_caption(prompt, caption, 2000) == caption


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ('""', "empty"),
        (None, "empty"),
        ('{"caption": "two corgis on a beach"}', "invalid_response"),
        ("```\ntwo corgis on a beach\n```", "invalid_response"),
        ("- two corgis\n- a beach\n- a sign", "invalid_response"),
        ("1. two corgis\n2. a beach", "invalid_response"),
        ("I'm sorry, but I can't help with that request.", "refusal"),
        ("I cannot create content about corgis.", "refusal"),
        ("As an AI language model, I prefer not to.", "refusal"),
        ("Sure! Here is a poem about the ocean and the moon.", "off_topic"),
        # The count and the quoted text are the user's: losing either is not a rewrite.
        (CAPTION.replace("Two fluffy", "Three fluffy"), "off_topic"),
        (CAPTION.replace('"HELLO"', '"HI"'), "off_topic"),
        (CAPTION + " " + "More scenery. " * 200, "too_long"),
    ],
)
def test_bad_replies_are_rejected_with_a_reason(reply, reason):
    with pytest.raises(Rejected) as caught:
        check_caption(PROMPT, reply, 2000)
    assert caught.value.reason == reason
