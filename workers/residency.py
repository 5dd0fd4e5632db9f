"""Which models hold device memory, under a budget: the bookkeeping behind `ResidentModels`.

Plain data, no torch: it names the models that must make way; the caller moves them.
"""

from collections import OrderedDict


class Residency:
    """Models on their device, least recently used first, with the bytes each holds.

    Models with CPU offload place their own components and hold one at a time on the device, so
    they sit outside the budget: never counted, never chosen to make way, never moved whole.
    (Moving one with `.to()` would raise for sequential offload and, for model offload, put the
    whole pipeline on the GPU behind the budget's back.)
    """

    def __init__(self, budget_bytes: int | None):
        self.budget_bytes = budget_bytes
        self.on_device: OrderedDict[str, int] = OrderedDict()
        self.self_placed: set[str] = set()

    def place_self(self, name: str) -> None:
        self.self_placed.add(name)

    def is_ready(self, name: str) -> bool:
        """Whether `name` can run without a swap (and mark it as the most recently used)."""
        if name in self.self_placed:
            return True
        if name in self.on_device:
            self.on_device.move_to_end(name)
            return True
        return False

    def make_room(self, needed: int) -> list[str]:
        """Take least recently used models off the books until `needed` more bytes fit; the
        caller moves or drops the ones returned."""
        victims = []
        if self.budget_bytes is None:
            return victims
        while self.on_device and sum(self.on_device.values()) + needed > self.budget_bytes:
            victim, _ = self.on_device.popitem(last=False)
            victims.append(victim)
        return victims

    def admit(self, name: str, weight_bytes: int) -> None:
        self.on_device[name] = weight_bytes

    def fits_alone(self, needed: int) -> bool:
        return self.budget_bytes is None or needed <= self.budget_bytes
