"""Prometheus metrics: this process' request counts plus what workers recorded in Redis."""

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from app.expansion.stats import LLM_BUCKETS, LLM_SECONDS, read_outcomes
from app.metrics_store import PHASE_BUCKETS, PHASE_SECONDS, STEP_BUCKETS, STEP_SECONDS, read_histograms
from app.queueing import render_queue_name
from app.records import FINAL_COUNTS
from models.catalog import Catalog


class RedisCollector:
    """Reads shared figures at scrape time, so every API replica reports the same numbers."""

    def __init__(self, redis: Redis, catalog: Catalog, extra_queues: tuple[str, ...] = ("expand", "notify")):
        self.redis = redis
        self.queue_names = [render_queue_name(m) for m in catalog.names()] + list(extra_queues)

    def collect(self):
        try:
            yield from self._collect()
        except RedisError:
            up = GaugeMetricFamily("t2v_redis_up", "Whether Redis answered the scrape")
            up.add_metric([], 0)
            yield up

    def _collect(self):
        up = GaugeMetricFamily("t2v_redis_up", "Whether Redis answered the scrape")
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("t2v_queue_depth", "Jobs waiting per queue", labels=["queue"])
        for name in self.queue_names:
            depth.add_metric([name], Queue(name, connection=self.redis).count)
        yield depth
        final = CounterMetricFamily("t2v_videos_final", "Videos by final status", labels=["status"])
        for status, count in self.redis.hgetall(FINAL_COUNTS).items():
            final.add_metric([status.decode()], int(count))
        yield final
        expansions = CounterMetricFamily(
            "t2v_prompt_expansions", "Prompts by how the sampler's prompt was obtained", labels=["outcome", "reason"]
        )
        for (outcome, reason), count in read_outcomes(self.redis).items():
            expansions.add_metric([outcome, reason], count)
        yield expansions
        for key, name, doc, buckets, label in (
            (PHASE_SECONDS, "t2v_phase_seconds", "Seconds per render phase", PHASE_BUCKETS, "phase"),
            (STEP_SECONDS, "t2v_step_seconds", "Seconds per denoising step, by model", STEP_BUCKETS, "model"),
            (LLM_SECONDS, "t2v_llm_seconds", "Seconds per LLM call, by result", LLM_BUCKETS, "result"),
        ):
            family = HistogramMetricFamily(name, doc, labels=[label])
            for value, hist in read_histograms(self.redis, key, buckets).items():
                family.add_metric([value], hist["buckets"], hist["sum"])
            yield family


def _route_label(scope) -> str:
    """The route template, not the raw path: ids would explode the label space."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    # One router serves both mounts and reports its template without the mount prefix.
    if scope["path"].startswith("/v1/") and not route.path.startswith("/v1/"):
        return f"/v1{route.path}"
    return route.path


class RequestCounter:
    """Pure ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware on every request)."""

    def __init__(self, app, counter: Counter):
        self.app, self.counter = app, counter

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = {"code": 500}

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.counter.labels(scope["method"], _route_label(scope), str(status["code"])).inc()


def install_metrics(app: FastAPI, redis: Redis, catalog: Catalog) -> CollectorRegistry:
    registry = CollectorRegistry()
    requests = Counter(
        "t2v_http_requests", "HTTP requests by route and status", ["method", "route", "status"], registry=registry
    )
    registry.register(RedisCollector(redis, catalog))
    app.add_middleware(RequestCounter, counter=requests)
    return registry


def render_metrics(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
