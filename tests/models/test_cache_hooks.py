"""Cache options really hook the transformer they are set on (not just pass validation)."""

from models.catalog import load_catalog
from models.loader import load_model
from tests.conftest import TEST_CATALOG


def hooked(module) -> list[str]:
    return [
        name
        for name, sub in module.named_modules()
        if getattr(sub, "_diffusers_hook", None) is not None and sub._diffusers_hook.hooks
    ]


def test_taylorseer_predicts_every_attention_layer_of_a_wan_transformer(tmp_path):
    loaded = load_model(load_catalog(TEST_CATALOG)["tiny-wan-cache-taylorseer"], tmp_path)
    transformer = loaded.pipeline.transformer
    attention = [name for name, _ in transformer.named_modules() if name.startswith("blocks.") and ".attn" in name]
    attention = [name for name in attention if name.count(".") == 2]
    assert attention, "the tiny Wan transformer has attention layers"
    assert set(attention) <= set(hooked(transformer))
