"""diffusers' cache accelerators (reuse transformer work between nearby denoising steps)."""

from models.catalog import CatalogEntry


def enable_cache(entry: CatalogEntry, transformer) -> None:
    from diffusers import hooks

    options = entry.cache
    configs = {
        "first_block": lambda t: hooks.FirstBlockCacheConfig(threshold=t if t is not None else 0.05),
        "faster": lambda t: hooks.FasterCacheConfig(),
        "pyramid_attention": lambda t: hooks.PyramidAttentionBroadcastConfig(),
        "taylorseer": lambda t: hooks.TaylorSeerCacheConfig(),
        "mag": lambda t: hooks.MagCacheConfig(threshold=t if t is not None else 0.06),
    }
    try:
        config = configs[options.kind](options.threshold)
        transformer.enable_cache(config)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"model {entry.name!r}: cache {options.kind!r} cannot be enabled: {exc}") from exc
