"""Webhook URLs cannot reach private networks: refused at create time and again at send time."""

import shutil
import ssl
import subprocess

import httpx
import pytest

from app.embedded_redis import free_port
from app.webhooks.config import WebhookConfig
from app.webhooks.sender import Outcome, send
from app.webhooks.signing import new_secret
from app.webhooks.url_safety import AllowList, UnresolvableHost, UnsafeUrl, check_url, system_resolver
from tests.support import start_api
from tests.webhook_receiver import WebhookReceiver


DEFAULTS = AllowList.parse("")
PUBLIC = "93.184.216.34"

FORBIDDEN_URLS = [
    "http://127.0.0.1/hook",
    "http://127.9.9.9:8080/hook",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://224.0.0.1/hook",  # multicast
    "http://0.0.0.0:8000/hook",  # unspecified
    "http://255.255.255.255/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[ff02::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
    "http://[::ffff:169.254.169.254]/hook",
    "http://[2002:7f00:1::1]/hook",  # 6to4 around 127.0.0.1
    "http://[2002:a9fe:a9fe::1]/hook",  # 6to4 around 169.254.169.254
    "http://[64:ff9b::a00:1]/hook",  # NAT64 around 10.0.0.1
]
MALFORMED_URLS = [
    "ftp://hooks.example.com/x",
    "file:///etc/passwd",
    "gopher://hooks.example.com/",
    "javascript:alert(1)",
    "hooks.example.com/no-scheme",
    "http:///no-host",
    "http://user:secret@hooks.example.com/",
    "http://hooks.example.com:99999/",
    "http://bad host.example.com/",
]


def _resolver(table: dict[str, list[str]]):
    calls = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise UnresolvableHost(f"{host} does not resolve")
        return table[host]

    resolve.calls = calls
    return resolve


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
def test_private_literal_addresses_are_refused(url):
    with pytest.raises(UnsafeUrl) as refused:
        check_url(url, DEFAULTS, _resolver({}))
    assert refused.value.code == "webhook_url_forbidden"


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_non_http_and_malformed_urls_are_refused(url):
    with pytest.raises(UnsafeUrl) as refused:
        check_url(url, DEFAULTS, _resolver({"hooks.example.com": [PUBLIC]}))
    assert refused.value.code == "invalid_webhook_url"


@pytest.mark.parametrize("private", ["127.0.0.1", "10.1.1.1", "169.254.169.254", "::1", "::ffff:10.0.0.1"])
def test_a_name_that_resolves_to_a_private_address_is_refused(private):
    with pytest.raises(UnsafeUrl, match=r"internal\.example\.com"):
        check_url("https://internal.example.com/hook", DEFAULTS, _resolver({"internal.example.com": [private]}))


def test_one_private_address_among_public_ones_is_enough_to_refuse():
    resolve = _resolver({"mixed.example.com": [PUBLIC, "192.168.0.7"]})
    with pytest.raises(UnsafeUrl, match=r"192\.168\.0\.7"):
        check_url("https://mixed.example.com/hook", DEFAULTS, resolve)


@pytest.mark.parametrize("host", ["localhost", "2130706433", "127.1", "0x7f.0.0.1"])
def test_system_resolver_spellings_of_loopback_are_refused(host):
    with pytest.raises(UnsafeUrl):
        check_url(f"http://{host}:8080/hook", DEFAULTS, system_resolver)


def test_public_addresses_pass_and_the_checked_address_is_kept():
    target = check_url("https://hooks.example.com:8443/in", DEFAULTS, _resolver({"hooks.example.com": [PUBLIC]}))
    assert (target.scheme, target.host, target.port, target.address) == ("https", "hooks.example.com", 8443, PUBLIC)
    assert check_url("http://[2606:4700::1111]/in", DEFAULTS, _resolver({})).address == "2606:4700::1111"


def test_allow_list_admits_named_hosts_and_networks_only():
    allow = AllowList.parse("receiver.internal, 10.20.0.0/16, 127.0.0.1")
    resolve = _resolver({"receiver.internal": ["192.168.5.5"], "other.internal": ["192.168.5.6"]})

    assert check_url("http://receiver.internal/hook", allow, resolve).address == "192.168.5.5"
    assert check_url("http://10.20.3.4/hook", allow, resolve).address == "10.20.3.4"
    assert check_url("http://127.0.0.1:9000/hook", allow, resolve).address == "127.0.0.1"
    for url in ("http://other.internal/hook", "http://10.21.0.1/hook", "http://127.0.0.2/hook"):
        with pytest.raises(UnsafeUrl):
            check_url(url, allow, resolve)


# --- send time: the same check, and the connection goes to the address that passed ---


def _config(allowed: str = "") -> WebhookConfig:
    return WebhookConfig(
        secrets=(new_secret(),),
        urls=(),
        allow=AllowList.parse(allowed),
        timeout_s=2.0,
        max_attempts=1,
        retry_schedule_s=(1.0,),
        response_cap_bytes=16,
    )


@pytest.fixture
def receiver():
    server = WebhookReceiver().start()
    yield server
    server.close()


def test_send_time_check_refuses_before_connecting(receiver):
    # Passed at create time under a looser policy; the send-time check still stops it.
    resolve = _resolver({"hooks.example.com": ["127.0.0.1"]})
    result = send(f"http://hooks.example.com:{receiver.port}/ok/refused", "msg_x", "{}", _config(), resolve)
    assert result.outcome == Outcome.REFUSED and "loopback" in result.error
    assert receiver.requests_to("ok", "refused") == []


def test_send_connects_to_the_checked_address_with_the_original_host_header(receiver):
    # The name exists only in the injected resolver, and that resolver answers a private address
    # after its first call: a sender that resolved again (or let httpx do it) would fail or go elsewhere.
    answers = iter([["127.0.0.1"], ["10.9.9.9"]])
    calls = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    url = f"http://hooks.example.com:{receiver.port}/ok/pinned"
    result = send(url, "msg_pin", '{"a":1}', _config("127.0.0.1"), rebinding)

    assert result.outcome == Outcome.DELIVERED and result.status_code == 200
    assert result.response == "thanks"
    assert calls == ["hooks.example.com"]
    (request,) = receiver.requests_to("ok", "pinned")
    assert request.headers["host"] == f"hooks.example.com:{receiver.port}"
    assert request.headers["webhook-id"] == "msg_pin" and request.body == b'{"a":1}'


def test_redirect_to_a_private_address_is_a_failure_and_not_followed(receiver):
    url = receiver.url("redirect", "unit")
    result = send(url, "msg_r", "{}", _config("127.0.0.1"), system_resolver)
    assert result.outcome == Outcome.RETRY and result.status_code == 302
    assert "not followed" in result.error
    assert receiver.requests_to("landed", "unit") == []


def test_a_hanging_receiver_times_out(receiver):
    config = _config("127.0.0.1")
    config = WebhookConfig(**{**config.__dict__, "timeout_s": 0.5})
    result = send(receiver.url("hang", "unit"), "msg_h", "{}", config, system_resolver)
    assert result.outcome == Outcome.RETRY and "timed out" in result.error


def test_410_and_429_are_classified(receiver):
    config = _config("127.0.0.1")
    gone = send(receiver.url("gone", "unit"), "msg_g", "{}", config, system_resolver)
    assert gone.outcome == Outcome.GONE and gone.status_code == 410
    busy = send(receiver.url("busy", "unit", "retry_after=7"), "msg_b", "{}", config, system_resolver)
    assert busy.outcome == Outcome.RETRY and busy.status_code == 429 and busy.retry_after_s == 7
    # The response body is read only up to the cap.
    assert busy.response == "slow down"
    assert len(gone.response) == config.response_cap_bytes


@pytest.fixture
def tls_receiver(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    name = "hooks.example.com"
    command = f"openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout {key} -out {cert} -subj /CN={name}"
    subprocess.run([*command.split(), "-addext", f"subjectAltName=DNS:{name}"], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = WebhookReceiver(tls=context).start()
    yield server, cert
    server.close()


def test_https_goes_to_the_checked_address_and_verifies_the_certificate_by_name(tls_receiver, monkeypatch):
    server, cert = tls_receiver
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    resolve = _resolver({"hooks.example.com": ["127.0.0.1"], "other.example.com": ["127.0.0.1"]})
    config = _config("127.0.0.1")

    good = send(f"https://hooks.example.com:{server.port}/ok/tls", "msg_t", "{}", config, resolve)
    assert good.outcome == Outcome.DELIVERED, good.error
    (request,) = server.requests_to("ok", "tls")
    assert request.headers["host"] == f"hooks.example.com:{server.port}"

    # Same address, another name: the certificate does not match, so nothing is sent.
    wrong = send(f"https://other.example.com:{server.port}/ok/wrong-name", "msg_w", "{}", config, resolve)
    assert wrong.outcome == Outcome.RETRY and "certificate" in wrong.error.lower()
    assert server.requests_to("ok", "wrong-name") == []


# --- create time, through the API with default settings (a secret, no allow list) ---


@pytest.fixture(scope="module")
def strict_api(env, tmp_path_factory):
    api, base = start_api({**env, "T2V_WEBHOOK_SECRET": new_secret()}, free_port(), tmp_path_factory.mktemp("strict"))
    yield base
    api.stop()


def _create(base: str, **fields) -> httpx.Response:
    body = {"prompt": "a red ball", "model": "tiny-wan-webhooks-parked", **fields}
    return httpx.post(f"{base}/v1/videos", json=body, timeout=10)


@pytest.mark.parametrize("url", [*FORBIDDEN_URLS, *MALFORMED_URLS, "http://localhost:8080/hook"])
def test_create_refuses_unsafe_webhook_urls_with_a_400(strict_api, url):
    response = _create(strict_api, webhook_url=url)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "webhook_url" and error["type"] == "invalid_request_error"
    assert error["code"] in ("webhook_url_forbidden", "invalid_webhook_url")


def test_create_validates_webhook_events(strict_api):
    unknown = _create(strict_api, webhook_url=f"http://{PUBLIC}/hook", webhook_events=["video.exploded"])
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "webhook_events"
    orphan = _create(strict_api, webhook_events=["video.completed"])
    assert orphan.status_code == 400 and orphan.json()["error"]["param"] == "webhook_events"


def test_create_accepts_a_public_webhook_url(strict_api):
    response = _create(strict_api, webhook_url=f"http://{PUBLIC}/hook", webhook_events="video.completed")
    assert response.status_code == 200, response.text
    # Deleting it cancels the video; no delivery is queued (only video.completed was asked for).
    video_id = response.json()["id"]
    assert httpx.delete(f"{strict_api}/v1/videos/{video_id}", timeout=10).status_code == 200


def test_webhooks_are_refused_where_no_secret_is_configured(api_url):
    response = _create(api_url, webhook_url=f"http://{PUBLIC}/hook")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhooks_not_configured"
