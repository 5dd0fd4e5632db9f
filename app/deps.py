"""Dependencies shared by the routes, as `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Request
from redis import Redis

from app.records import RecordStore
from app.settings import Settings
from app.storage import Storage
from models.catalog import Catalog


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _redis(request: Request) -> Redis:
    return request.app.state.redis


def _store(request: Request) -> RecordStore:
    return request.app.state.store


def _storage(request: Request) -> Storage:
    return request.app.state.storage


def _catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def _owner(request: Request) -> str:
    # Every video belongs to an owner; without API keys all callers share one.
    return "public"


SettingsDep = Annotated[Settings, Depends(_settings)]
RedisDep = Annotated[Redis, Depends(_redis)]
StoreDep = Annotated[RecordStore, Depends(_store)]
StorageDep = Annotated[Storage, Depends(_storage)]
CatalogDep = Annotated[Catalog, Depends(_catalog)]
OwnerDep = Annotated[str, Depends(_owner)]
