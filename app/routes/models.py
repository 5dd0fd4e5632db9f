"""`/models`: the catalog, with each model's constraints and whether a worker serves it now."""

from fastapi import APIRouter

from app.deps import CatalogDep, RedisDep
from app.errors import NotFound
from app.liveness import live_models


router = APIRouter(tags=["models"])


@router.get("/models", summary="List servable models")
def list_models(catalog: CatalogDep, redis: RedisDep):
    live = live_models(redis)
    return {"object": "list", "data": [catalog[n].public_dict(n in live) for n in catalog.names()]}


@router.get("/models/{model}", summary="One model's constraints and defaults")
def get_model(model: str, catalog: CatalogDep, redis: RedisDep):
    if model not in catalog:
        raise NotFound(f"model {model!r} is not served here", param="model", code="model_not_found")
    return catalog[model].public_dict(model in live_models(redis))
