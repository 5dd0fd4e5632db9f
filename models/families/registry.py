"""Every family the server knows, by name."""

from models.families.base import FamilySpec
from models.families.cogvideox import COGVIDEOX
from models.families.embedded import EMBEDDED
from models.families.hunyuan import HUNYUAN
from models.families.ltx import LTX
from models.families.mochi import MOCHI
from models.families.wan import WAN


FAMILIES: dict[str, FamilySpec] = {spec.name: spec for spec in (WAN, LTX, COGVIDEOX, HUNYUAN, MOCHI, EMBEDDED)}


def get_family(name: str) -> FamilySpec:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; known families: {', '.join(sorted(FAMILIES))}") from None
