"""The FastAPI application: one set of handlers, mounted at `/` and `/v1`."""

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.api_docs import ERROR_RESPONSES, add_links_and_drop_422
from app.body_limit import BodyLimit
from app.deps import RequireTenant
from app.errors import install_error_handlers
from app.gc_tuning import freeze_startup_heap
from app.metrics import install_metrics
from app.records import RecordStore
from app.redis_conn import AsyncClients, connect
from app.routes import events, health, models, videos, webhooks
from app.routes.conditioned import ROUTERS as CONDITIONED_ROUTERS
from app.schemas import CreateVideoRequest
from app.settings import Settings, get_settings
from app.storage import get_storage
from app.studio import install_studio
from models.catalog import load_catalog


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="t2v", version="0.1.0", summary="Self-hosted text-to-video with the OpenAI Videos API")
    app.state.settings = settings
    app.state.catalog = load_catalog(settings.catalog)
    app.state.redis = connect(settings)
    # What the event loop itself sends (a create's one round trip).
    app.state.async_redis = AsyncClients(settings)
    app.state.store = RecordStore(app.state.redis)
    app.state.storage = get_storage(settings)
    # `t2v api` sets this when it binds beyond loopback: then revoking every key locks the API
    # instead of opening it.
    app.state.keys_required = False
    # Added before the metrics middleware, so refused bodies are counted too.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, upload_max_bytes=settings.max_upload_bytes)
    app.state.metrics_registry = install_metrics(app, app.state.redis, app.state.catalog)
    install_error_handlers(app)

    for prefix in ("/v1", ""):
        # The SDK calls /v1/...; people type the short form. Only /v1 is in the schema.
        # Every route here needs the caller's key once keys exist (and counts against its rate).
        for router in (*CONDITIONED_ROUTERS, videos.router, events.router, models.router, webhooks.router):
            app.include_router(
                router,
                prefix=prefix,
                include_in_schema=bool(prefix),
                dependencies=[RequireTenant],
                responses=ERROR_RESPONSES,
            )
    app.include_router(health.router)
    install_studio(app)

    def openapi():
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["CreateVideoRequest"] = CreateVideoRequest.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            app.openapi_schema = add_links_and_drop_422(schema)
        return app.openapi_schema

    app.openapi = openapi
    app.router.on_startup.append(freeze_startup_heap)  # every `--workers` process, once it is built
    return app
