"""Property-based tests of the API against its own OpenAPI schema (Schemathesis).

Generated requests, valid and invalid, go to the app in process, with an API key on: no answer may
be a 5xx, every answer must match the status codes, media types and bodies the schema declares,
invalid input must be refused, and auth must be enforced where the schema says it is. A stateful
run then follows the schema's links (create a video, then retrieve, cancel, download, delete it).

The app uses the session Valkey but a database of its own, so its keys turn auth on only here.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from redis import Redis
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from app.auth import create_key
from app.main import create_app
from app.settings import Settings
from tests.tenants import TEST_CATALOG, bearer


# Each operation gets this many generated requests; together they take well under a minute.
EXAMPLES_PER_OPERATION = 25
STATEFUL_SCENARIOS = 15
HYPOTHESIS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
SCHEMA_DB = 7


@pytest.fixture(scope="module")
def keyed_app(redis_server, tmp_path_factory):
    url = redis_server.url.rsplit("/", 1)[0] + f"/{SCHEMA_DB}"
    redis = Redis.from_url(url)
    redis.flushdb()
    app = create_app(
        Settings(
            redis_url=url,
            data_dir=tmp_path_factory.mktemp("schemathesis"),
            catalog=TEST_CATALOG,
            default_model="tiny-schema",
            # Generated traffic is far faster than any tenant's budget; limits have their own tests.
            rate_limit_per_minute=0,
            max_active_videos_per_tenant=0,
            webhook_secret="",
            expand_prompts=False,
        )
    )
    app.state.keys_required = True
    _, key = create_key(redis, "schemathesis", "schemathesis")
    yield app, key
    redis.flushdb()


@pytest.fixture(scope="module")
def api_schema(keyed_app):
    app, _ = keyed_app
    api_schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Unknown query parameters are ignored on purpose (as unknown body fields are): clients such
    # as the openai SDK may send ones this server does not know.
    api_schema.config.generation.update(allow_extra_parameters=False)
    return api_schema


@pytest.fixture(scope="module")
def api_key(keyed_app) -> str:
    return keyed_app[1]


def _cases() -> list[tuple[str, str, GenerationMode]]:
    """(method, path, mode) for every operation: valid requests for all, invalid ones for those
    with something to break (parameters or a body)."""
    # Collection needs this before any fixture runs; building the schema doesn't touch Redis.
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", catalog=TEST_CATALOG))
    cases = []
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            cases.append((method.upper(), path, GenerationMode.POSITIVE))
            if operation.get("parameters") or operation.get("requestBody"):
                cases.append((method.upper(), path, GenerationMode.NEGATIVE))
    return cases


# Create is also checked by model-dependent rules the schema cannot state (sizes in multiples of
# 16 up to a model's limit, seconds within its frame budget, catalog names), and multipart has no
# way to send a null; so a schema-valid create may rightly be refused. Everything else must accept
# whatever its schema allows.
SCHEMA_VALID_MAY_BE_REFUSED = {("POST", "/v1/videos")}


def _excluded_checks(method: str, path: str) -> list:
    return [positive_data_acceptance] if (method, path) in SCHEMA_VALID_MAY_BE_REFUSED else []


@pytest.mark.parametrize(("method", "path", "mode"), _cases(), ids=lambda value: str(value))
def test_every_operation_matches_its_schema(api_schema, api_key, method, path, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, **HYPOTHESIS)
    def generated_requests(case):
        case.call_and_validate(headers=bearer(api_key), excluded_checks=_excluded_checks(method, path))

    generated_requests()


def test_following_links_from_created_videos_matches_the_schema(api_schema, api_key):
    class Workflow(api_schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": bearer(api_key)}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=_excluded_checks(case.method, case.operation.path),
                transport_kwargs=kwargs or None,
            )

    # Links feed live responses back into generation, so two scenarios of one run that share a
    # prefix can draw differently (Hypothesis calls that a flaky strategy, even unseeded): each
    # scenario is a run of its own, with nothing recorded to replay against.
    stateful = {**HYPOTHESIS, "derandomize": False}
    for _ in range(STATEFUL_SCENARIOS):
        Workflow.run(settings=settings(max_examples=1, stateful_step_count=6, **stateful))
