"""OpenAI's durations, sizes and model names are accepted by every model family."""

import pytest

from app.errors import InvalidRequest
from app.schemas import CreateVideoRequest
from app.settings import Settings
from app.validation import SORA_SIZES, resolve_request
from models.catalog import Catalog, CatalogEntry, load_catalog
from models.families import FAMILIES


def _resolve(family: str, settings: Settings | None = None, **fields):
    entry = CatalogEntry(name=f"m-{family}", family=family, path="x")
    catalog = Catalog({entry.name: entry}, source=None)
    request = CreateVideoRequest(prompt="a red ball", model=entry.name, **fields)
    return resolve_request(request, catalog, settings or Settings(default_model=entry.name))


def _orientation(width: int, height: int) -> int:
    return (width > height) - (width < height)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("size", SORA_SIZES)
def test_every_sora_size_renders_natively_or_at_the_nearest_native_size(family, size):
    resolved = _resolve(family, size=size, seconds="4")
    spec = FAMILIES[family]
    assert resolved.size == size
    native = f"{resolved.width}x{resolved.height}"
    if native == size:
        assert resolved.warning is None
        return
    assert native in resolved.warning and size in resolved.warning
    if spec.allowed_sizes:
        assert native in spec.allowed_sizes
        if any(
            _orientation(*map(int, s.split("x"))) == _orientation(*map(int, size.split("x")))
            for s in spec.allowed_sizes
        ):
            assert _orientation(resolved.width, resolved.height) == _orientation(*map(int, size.split("x")))
    else:
        assert resolved.width % spec.spatial_multiple == 0 and resolved.height % spec.spatial_multiple == 0
        assert max(resolved.width, resolved.height) <= spec.max_side
        assert _orientation(resolved.width, resolved.height) == _orientation(*map(int, size.split("x")))


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("seconds", ["4", "8", "12", 20, "60"])
def test_sora_durations_up_to_the_cap_become_chunks_of_the_longest_clip(family, seconds):
    resolved = _resolve(family, seconds=seconds)
    fps = resolved.fps
    assert resolved.seconds == str(seconds)
    if resolved.is_chunked:
        assert resolved.num_frames == int(seconds) * fps + 1
        assert resolved.chunk_frames < resolved.num_frames
    else:
        assert resolved.num_frames >= int(seconds) * fps
        assert resolved.chunk_frames == resolved.num_frames


@pytest.mark.parametrize("seconds", ["61", "0", "-4", "soon", "nan"])
def test_bad_seconds_name_the_cap(seconds):
    with pytest.raises(InvalidRequest) as raised:
        _resolve("embedded", seconds=seconds)
    assert raised.value.param == "seconds" and "60" in str(raised.value)


def test_the_cap_is_a_setting():
    settings = Settings(default_model="m-wan", max_seconds=20)
    assert _resolve("wan", settings, seconds="20").num_frames == 20 * 16 + 1
    with pytest.raises(InvalidRequest, match="cap of 20 seconds"):
        _resolve("wan", settings, seconds="21")


@pytest.mark.parametrize(
    ("name", "alias"),
    [("sora-2-2025-10-06", "sora-2"), ("sora-2-2025-12-08", "sora-2"), ("sora-2-pro-2025-10-06", "sora-2-pro")],
)
def test_dated_model_names_map_like_their_base_names(name, alias):
    catalog = load_catalog()
    settings = Settings(sora_2_model="wan2.1-t2v-1.3b", sora_2_pro_model="wan2.1-t2v-14b")
    dated = resolve_request(CreateVideoRequest(prompt="x", model=name), catalog, settings)
    base = resolve_request(CreateVideoRequest(prompt="x", model=alias), catalog, settings)
    assert dated.model == base.model != "embedded"


def test_a_non_sora_size_the_model_cannot_render_is_still_refused():
    with pytest.raises(InvalidRequest, match="allowed sizes"):
        _resolve("embedded", size="1920x1080")
