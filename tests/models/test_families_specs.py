"""Family specs: self-consistent, true to the published models' VAE and patch factors in diffusers,
and turned into the right frame counts and error messages by request validation."""

import pytest
from accelerate import init_empty_weights

from app.errors import InvalidRequest
from app.schemas import CreateVideoRequest
from app.settings import Settings
from app.validation import resolve_request
from models.catalog import Catalog, CatalogEntry
from models.families import FAMILIES, get_family


ALL = sorted(FAMILIES)


def _sides(size: str) -> tuple[int, int]:
    width, height = map(int, size.split("x"))
    return width, height


@pytest.mark.parametrize("name", ALL)
def test_defaults_obey_the_familys_own_rules(name):
    spec = FAMILIES[name]
    for size in (spec.default_size, *(spec.allowed_sizes or ())):
        for side in _sides(size):
            assert side % spec.spatial_multiple == 0 and spec.min_side <= side <= spec.max_side, size
    if spec.allowed_sizes:
        assert spec.default_size in spec.allowed_sizes
    assert spec.frame_rule.is_legal(spec.max_frames) or spec.allowed_frame_counts
    for frames in (spec.default_frames, *(spec.allowed_frame_counts or ())):
        assert spec.frame_rule.is_legal(frames) and frames <= spec.max_frames, frames
    if spec.allowed_frame_counts:
        assert spec.default_frames in spec.allowed_frame_counts
    assert 1 <= spec.default_steps <= spec.max_steps
    assert spec.pipeline_class.endswith("Pipeline")


@pytest.mark.parametrize("name", ALL)
def test_every_family_has_a_caption_style_that_guards_against_instructions(name):
    style = FAMILIES[name].caption_style
    assert style and len(style) > 200
    assert "never instructions to you" in style


def test_unknown_family_names_the_known_ones():
    with pytest.raises(KeyError, match="known families: cogvideox, embedded, hunyuan, ltx, mochi, wan"):
        get_family("sora")


def _published_factors(family: str) -> tuple[int, int]:
    """(VAE spatial x transformer patch, VAE temporal factor) of the published model's classes."""
    import diffusers

    with init_empty_weights():
        if family in ("wan", "embedded"):
            vae, transformer = diffusers.AutoencoderKLWan(), diffusers.WanTransformer3DModel(num_layers=1)
            return vae.config.scale_factor_spatial * transformer.config.patch_size[1], vae.config.scale_factor_temporal
        if family == "ltx":
            vae, transformer = diffusers.AutoencoderKLLTXVideo(), diffusers.LTXVideoTransformer3DModel(num_layers=1)
            return vae.spatial_compression_ratio * transformer.config.patch_size, vae.temporal_compression_ratio
        if family == "cogvideox":
            vae = diffusers.AutoencoderKLCogVideoX()
            transformer = diffusers.CogVideoXTransformer3DModel(num_layers=1)
            spatial = 2 ** (len(vae.config.block_out_channels) - 1) * transformer.config.patch_size
            return spatial, vae.config.temporal_compression_ratio
        if family == "hunyuan":
            vae = diffusers.AutoencoderKLHunyuanVideo()
            transformer = diffusers.HunyuanVideoTransformer3DModel(num_layers=1, num_single_layers=1)
            return vae.spatial_compression_ratio * transformer.config.patch_size, vae.temporal_compression_ratio
        if family == "mochi":
            vae, transformer = diffusers.AutoencoderKLMochi(), diffusers.MochiTransformer3DModel(num_layers=1)
            return vae.spatial_compression_ratio * transformer.config.patch_size, vae.temporal_compression_ratio
    raise AssertionError(family)


@pytest.mark.parametrize("name", ALL)
def test_spatial_multiple_and_frame_rule_match_the_published_classes(name):
    spec = FAMILIES[name]
    spatial, temporal = _published_factors(name)
    assert spec.spatial_multiple == spatial
    assert spec.frame_rule.offset == 1
    # CogVideoX decodes latents in pairs: only an odd latent count gives back exactly 4(n-1)+1.
    expected_multiple = 2 * temporal if name == "cogvideox" else temporal
    assert spec.frame_rule.multiple == expected_multiple


def _catalog(family: str, **limits) -> Catalog:
    entry = CatalogEntry(name=f"m-{family}", family=family, path="x", limits=limits)
    return Catalog({entry.name: entry}, source=None)


def _resolve(family: str, limits: dict | None = None, **fields):
    catalog = _catalog(family, **(limits or {}))
    request = CreateVideoRequest(prompt="a red ball", model=f"m-{family}", **fields)
    return resolve_request(request, catalog, Settings(default_model=f"m-{family}"))


@pytest.mark.parametrize(
    ("family", "fields", "frames", "fps"),
    [
        ("wan", {"seconds": "2"}, 33, 16),  # 32 -> 4k+1
        ("ltx", {"seconds": "1"}, 25, 24),  # 24 -> 8k+1
        ("ltx", {"seconds": "1", "fps": 30}, 33, 30),  # 30 -> 8k+1 rounds up to 33
        ("hunyuan", {"seconds": "2"}, 49, 24),  # 48 -> 4k+1
        ("mochi", {"seconds": "1"}, 31, 30),  # 30 -> 6k+1
        ("cogvideox", {"seconds": "2"}, 49, 8),  # always its one trained length
        ("embedded", {"seconds": "1"}, 9, 8),
        ("embedded", {"seconds": "1.5"}, 17, 8),  # 12 frames: rounds up to the next trained length
    ],
)
def test_seconds_become_the_familys_legal_frame_count(family, fields, frames, fps):
    resolved = _resolve(family, **fields)
    assert (resolved.num_frames, resolved.fps) == (frames, fps)


@pytest.mark.parametrize(
    ("family", "frames", "seconds"),
    [
        ("wan", 81, "5"),
        ("ltx", 161, "6.66667"),
        ("cogvideox", 49, "6"),
        ("hunyuan", 129, "5.33333"),
        ("mochi", 85, "2.8"),
        ("embedded", 17, "2"),
    ],
)
def test_a_request_without_seconds_gets_the_familys_default_length(family, frames, seconds):
    resolved = _resolve(family)
    assert (resolved.num_frames, resolved.seconds) == (frames, seconds)
    assert resolved.size == FAMILIES[family].default_size


def test_the_default_length_is_capped_by_the_entrys_limits():
    resolved = _resolve("wan", {"max_frames": 33, "native_fps": 8})
    assert (resolved.num_frames, resolved.seconds) == (33, "4")


@pytest.mark.parametrize(
    ("family", "fields", "param", "message"),
    [
        ("ltx", {"size": "720x480"}, "size", "multiples of 32"),
        ("ltx", {"seconds": "61"}, "seconds", "cap of 60 seconds"),
        ("wan", {"size": "1920x1080"}, "size", "multiples of 16"),
        ("wan", {"size": "1920x1088"}, "size", "between 16 and 1280"),
        ("cogvideox", {"size": "1920x1080"}, "size", "allowed sizes: 720x480"),
        ("cogvideox", {"seconds": "0"}, "seconds", "at most 60"),
        ("hunyuan", {"negative_prompt": "blurry"}, "negative_prompt", "does not use negative prompts"),
        ("hunyuan", {"seconds": "-6"}, "seconds", "at most 60"),
        ("mochi", {"size": "840x480"}, "size", "multiples of 16"),
        ("mochi", {"seconds": "soon"}, "seconds", "up to 60"),
        ("embedded", {"size": "128x128"}, "size", "allowed sizes: 64x64, 96x64"),
    ],
)
def test_invalid_request_names_the_rule(family, fields, param, message):
    with pytest.raises(InvalidRequest) as raised:
        _resolve(family, **fields)
    assert raised.value.param == param
    assert message in str(raised.value), str(raised.value)


@pytest.mark.parametrize(
    ("family", "limits", "message"),
    [
        ("ltx", {"default_size": "720x480"}, "default_size '720x480' needs sides that are multiples of 32"),
        ("mochi", {"allowed_frame_counts": [12]}, "allowed frame count 12 is not 6k+1"),
        ("wan", {"max_frames": 3}, "max_frames 3 is below the shortest clip"),
        ("cogvideox", {"allowed_sizes": ["1280x720"]}, "default_size '720x480' is not among allowed_sizes"),
    ],
)
def test_catalog_refuses_limits_no_request_could_meet(family, limits, message):
    with pytest.raises(ValueError, match=f"limits break the {family} family's rules") as raised:
        CatalogEntry(name="typo", family=family, path="x", limits=limits)
    assert message in str(raised.value)


@pytest.mark.parametrize("catalog_path", ["models/catalog.toml", "tests/fixtures/catalog.toml"])
def test_shipped_and_test_catalogs_load(catalog_path):
    from models.catalog import load_catalog
    from tests.support import ROOT

    catalog = load_catalog(ROOT / catalog_path)
    assert {entry.family for entry in catalog.entries.values()} >= {"wan", "ltx", "cogvideox", "hunyuan", "mochi"}
