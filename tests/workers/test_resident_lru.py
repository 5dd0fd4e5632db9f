"""ResidentModels under a memory budget: least recently used out first, swap time reported."""

import pytest

from models.catalog import load_catalog
from tests.conftest import TEST_CATALOG
from workers.runtime import ResidentModels


# Three names for the same 2.6 MB tiny Mochi: a 6 MiB budget holds two of them.
NAMES = ["tiny-swap-a", "tiny-swap-b", "tiny-mochi"]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(TEST_CATALOG)


def test_least_recently_used_model_makes_way_and_the_swap_is_timed(catalog, tmp_path_factory):
    models = ResidentModels(catalog, NAMES, tmp_path_factory.mktemp("lru"), budget_mb=6)
    # Loading the third pushed out the first.
    assert list(models.resident) == ["tiny-swap-b", "tiny-mochi"]
    assert "tiny-swap-a" not in models.loaded and models.names == NAMES

    model, seconds = models.get("tiny-swap-b")
    assert seconds == 0.0 and model.name == "tiny-swap-b"
    # tiny-mochi is now the least recently used: it goes, not tiny-swap-b.
    model, seconds = models.get("tiny-swap-a")
    assert seconds > 0 and model.name == "tiny-swap-a"
    assert list(models.resident) == ["tiny-swap-b", "tiny-swap-a"]
    assert "tiny-mochi" not in models.loaded

    _, seconds = models.get("tiny-swap-a")
    assert seconds == 0.0
    with pytest.raises(KeyError):
        models.get("tiny-wan")


def test_without_a_budget_every_model_stays(catalog, tmp_path_factory):
    models = ResidentModels(catalog, NAMES, tmp_path_factory.mktemp("lru"))
    assert list(models.resident) == NAMES
    assert [models.get(name)[1] for name in reversed(NAMES)] == [0.0, 0.0, 0.0]
