"""Which workers are alive, and which models they serve.

Each worker refreshes `t2v:worker:<name>` (a JSON description with a short TTL) every few
seconds; a key that expired means a dead or frozen worker. Names are also kept in a set so
readers need no SCAN.
"""

import json

from redis import Redis

from app.recent import Recent


WORKERS_SET = "t2v:workers"


def worker_key(name: str) -> str:
    return f"t2v:worker:{name}"


def announce(redis: Redis, name: str, description: dict, ttl_s: int) -> None:
    with redis.pipeline(transaction=False) as pipe:
        pipe.set(worker_key(name), json.dumps(description), ex=ttl_s)
        pipe.sadd(WORKERS_SET, name)
        pipe.execute()


def retire(redis: Redis, name: str) -> None:
    with redis.pipeline(transaction=False) as pipe:
        pipe.delete(worker_key(name))
        pipe.srem(WORKERS_SET, name)
        pipe.execute()


def is_alive(redis: Redis, name: str) -> bool:
    return bool(redis.exists(worker_key(name)))


def live_workers(redis: Redis) -> dict[str, dict]:
    names = sorted(n.decode() for n in redis.smembers(WORKERS_SET))
    if not names:
        return {}
    values = redis.mget([worker_key(n) for n in names])
    alive = {name: json.loads(v) for name, v in zip(names, values, strict=True) if v}
    dead = [name for name, v in zip(names, values, strict=True) if not v]
    if dead:
        redis.srem(WORKERS_SET, *dead)
    return alive


def live_models(redis: Redis) -> set[str]:
    return {model for worker in live_workers(redis).values() for model in worker.get("models", [])}


# For the create path's "no live worker yet" note: a worker seen a second late costs nothing.
recent_live_workers = Recent(live_workers)


def recent_live_models(redis: Redis) -> set[str]:
    return {model for worker in recent_live_workers(redis).values() for model in worker.get("models", [])}
