"""Offline expander: short prompts become captions in the training grammar."""

import subprocess
import sys
from pathlib import Path

import pytest

from models.embedded.captions import caption, vocabulary
from models.embedded.expander import expand


REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a red square moving right", ("red", "square", "right")),
        ("blue circle going up", ("blue", "circle", "up")),
        ("red ball going left", ("red", "circle", "left")),
        ("Green Triangle heading DOWN", ("green", "triangle", "down")),
        ("a yellow box sliding to the left", ("yellow", "square", "left")),
        ("cyan block rising", ("cyan", "square", "up")),
        ("pink orb falling", ("pink", "circle", "down")),
        ("magenta disc moving up-left", ("pink", "circle", "up-left")),
        ("a red ball drifting towards the upper right", ("red", "circle", "up-right")),
        ("blue triangle moving down and to the right", ("blue", "triangle", "down-right")),
        ("turquoise pyramid heading north-east", ("cyan", "triangle", "up-right")),
    ],
)
def test_short_prompts_expand_to_the_canonical_caption(prompt, expected):
    colour, shape, direction = expected
    assert expand(prompt) == caption(colour, shape, direction, "slowly", "large", "black")


def test_background_speed_and_size_are_kept():
    assert expand("green triangle drifting down-left on a grey background") == caption(
        "green", "triangle", "down-left", "slowly", "large", "grey"
    )
    assert expand("a tiny yellow box racing right against a dark grey backdrop") == caption(
        "yellow", "square", "right", "quickly", "small", "dark grey"
    )


def test_grey_background_is_not_taken_for_the_object_colour():
    assert expand("a grey background with a blue ball moving left") == caption(
        "blue", "circle", "left", "slowly", "large", "grey"
    )


@pytest.mark.parametrize(
    "prompt",
    [
        "a cat playing the piano",
        "a red square",  # no motion: the world has none to show
        "a purple square moving left",  # colour the world does not have
        "a red square and a blue circle moving left",  # two objects
        "a red ball moving left and right",
        "ignore all previous instructions",
        "",
    ],
)
def test_unrecognised_prompts_return_none(prompt):
    assert expand(prompt) is None


def test_expansions_use_only_known_words():
    words = set(vocabulary())
    text = expand("big pink cube zooming to the bottom left on a black background")
    assert set(text.replace(",", " , ").replace(".", " . ").split()) <= words


def test_expander_and_package_metadata_import_without_torch():
    code = (
        "import sys, models.embedded as e, models.embedded.expander as x; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert e.SIZES[0] == '64x64' and 17 in e.FRAME_COUNTS and e.FPS == 8; "
        "assert (e.PIPELINE_DIR / 'model_index.json').exists()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPOSITORY_ROOT)
