"""The resident budget's bookkeeping: least recently used models make way, and models with CPU
offload (which place their own components) are never counted, chosen to make way, or moved.
The same rules on a real GPU: tests/models/test_gpu_paths.py."""

from workers.residency import Residency


MIB = 1 << 20


def test_least_recently_used_makes_way_first():
    books = Residency(budget_bytes=10 * MIB)
    books.admit("a", 4 * MIB)
    books.admit("b", 4 * MIB)
    assert books.is_ready("a")  # now b is the least recently used
    assert books.make_room(4 * MIB) == ["b"]
    assert list(books.on_device) == ["a"]


def test_offloaded_models_are_outside_the_budget():
    books = Residency(budget_bytes=10 * MIB)
    books.place_self("wan2.2-offloaded")
    books.admit("a", 6 * MIB)
    # Ready without a swap, and never counted: 6 MiB of 10 are in use, not more.
    assert books.is_ready("wan2.2-offloaded")
    assert books.make_room(4 * MIB) == []
    # Only a counted model makes way, however much room is asked for: the offloaded one is never
    # handed back to be moved with `.to()`.
    assert books.make_room(100 * MIB) == ["a"]
    assert books.make_room(100 * MIB) == []
    assert books.is_ready("wan2.2-offloaded") and "wan2.2-offloaded" not in books.on_device
    assert not books.fits_alone(100 * MIB)


def test_without_a_budget_nothing_makes_way():
    books = Residency(budget_bytes=None)
    books.admit("a", 10**12)
    assert books.make_room(10**12) == [] and books.fits_alone(10**15)
