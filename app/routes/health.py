"""Liveness, readiness and metrics."""

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from app.deps import CatalogDep, RedisDep, SettingsDep
from app.errors import Unauthorized
from app.liveness import live_workers
from app.metrics import render_metrics


router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz():
    return {"status": "ok"}


@router.get("/readyz", summary="Redis is reachable; which models have live workers")
def readyz(redis: RedisDep, catalog: CatalogDep):
    try:
        redis.ping()
        workers = live_workers(redis)
    except RedisError as exc:
        return JSONResponse(
            {"status": "unavailable", "redis": f"unreachable: {type(exc).__name__}", "models": {}},
            status_code=503,
            headers={"retry-after": "2"},
        )
    served = {model for w in workers.values() for model in w.get("models", [])}
    broken = {model: why for w in workers.values() for model, why in w.get("failed_models", {}).items()}
    models = {}
    for name in catalog.names():
        models[name] = {"live": name in served}
        if name in broken and name not in served:
            models[name]["error"] = broken[name]
    return {"status": "ok", "redis": "ok", "workers": len(workers), "models": models}


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(request: Request, settings: SettingsDep):
    if settings.metrics_token:
        # Prometheus sends it as `authorization: Bearer <token>` (its `authorization` setting).
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
            raise Unauthorized(
                "GET /metrics needs the bearer token set in T2V_METRICS_TOKEN", code="invalid_metrics_token"
            )
    return Response(render_metrics(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
