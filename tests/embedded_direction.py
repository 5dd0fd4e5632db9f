"""The embedded model's direction gap, judged one way by every test that renders it."""

import pytest


def direction_not_learned(seen: str) -> pytest.MarkDecorator:
    """A strict expected failure: the shipped weights do not follow the prompt's direction
    (MODEL_CARD.md: 21 % / 12 %). `seen` says where the test's seeds move instead."""
    return pytest.mark.xfail(
        reason=f"the shipped embedded model does not follow motion direction (MODEL_CARD.md: 21 % / 12 %); {seen}",
        strict=True,
        raises=AssertionError,
    )


def assert_directions(found: dict[str, str], expected: dict[str, str]) -> None:
    """All but at most one video moves as prompted (one near a direction boundary may miss)."""
    missed = {prompt: found[prompt] for prompt, direction in expected.items() if found[prompt] != direction}
    assert len(missed) <= 1, missed
