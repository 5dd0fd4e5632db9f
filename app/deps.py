"""Dependencies shared by the routes, as `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis import Redis

from app.auth import OPEN_TENANT, is_api_key, recent_keys_exist, tenant_for
from app.limits import check_request_rate
from app.records import RecordStore
from app.settings import Settings
from app.storage import Storage
from app.studio.browser_key import browser_key
from models.catalog import Catalog


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _redis(request: Request) -> Redis:
    return request.app.state.redis


async def _store(request: Request) -> RecordStore:
    return request.app.state.store


async def _storage(request: Request) -> Storage:
    return request.app.state.storage


async def _catalog(request: Request) -> Catalog:
    return request.app.state.catalog


_bearer = HTTPBearer(auto_error=False, description="An API key made with `t2v keys create`")


async def _owner(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The caller's tenant (401 without a valid key once keys exist), counted against its rate.

    Every video belongs to an owner; without API keys all callers share one and have no limits.
    """
    state = request.app.state
    # A browser's event stream or download may send its key another way (app/studio/browser_key.py).
    token = credentials.credentials if credentials else browser_key(request)
    if not state.keys_required and not is_api_key(token):
        # An open server's callers (the openai client always sends some key) need no Redis while the
        # "no key exists" answer is fresh: answered here, without a trip through the threadpool.
        known, keys_on = recent_keys_exist.known(state.redis)
        if known and not keys_on:
            return OPEN_TENANT
    return await run_in_threadpool(_tenant, state, token)


def _tenant(state, token: str | None) -> str:
    tenant = tenant_for(state.redis, token, keys_required=state.keys_required)
    if tenant is None:
        return OPEN_TENANT
    check_request_rate(state.redis, tenant, state.settings.rate_limit_per_minute)
    return tenant


SettingsDep = Annotated[Settings, Depends(_settings)]
RedisDep = Annotated[Redis, Depends(_redis)]
StoreDep = Annotated[RecordStore, Depends(_store)]
StorageDep = Annotated[Storage, Depends(_storage)]
CatalogDep = Annotated[Catalog, Depends(_catalog)]
OwnerDep = Annotated[str, Depends(_owner)]
# For whole routers: every route authenticated and rate limited, whether it reads the owner or not
# (FastAPI resolves `_owner` once per request either way).
RequireTenant = Depends(_owner)
