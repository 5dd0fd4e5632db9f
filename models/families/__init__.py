"""A family is one diffusers pipeline type with its constraints; see `base.FamilySpec`."""

from models.families.base import FamilySpec, FrameRule
from models.families.registry import FAMILIES, get_family


__all__ = ["FAMILIES", "FamilySpec", "FrameRule", "get_family"]
