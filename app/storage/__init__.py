"""Where finished videos live: one interface, backends chosen by settings."""

from app.storage.base import VARIANTS, Storage, Variant
from app.storage.factory import get_storage


__all__ = ["VARIANTS", "Storage", "Variant", "get_storage"]
