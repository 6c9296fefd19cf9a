"""Configuration: defaults, which credential is sent, TLS, timeouts, proxy, headers."""

from __future__ import annotations

import platform
import ssl
from collections.abc import Callable
from pathlib import Path

import certifi
import httpx
import pytest

import okta
from okta.rest import ssl_verification

from .conftest import HOST, MockServer, fixture, json_response

Client = Callable[[okta.Configuration], okta.ApiClient]


def sent_authorization(
    make_client: Client, server: MockServer, configuration: okta.Configuration
) -> str | None:
    server.queue(json_response(200, fixture("keys")))
    okta.AuthorizationServerKeysApi(make_client(configuration)).list_authorization_server_keys("x")
    authorization: str | None = server.request.headers.get("Authorization")
    return authorization


def test_defaults() -> None:
    """Okta's placeholder host, TLS verified, a timeout, two 429 retries, no credentials."""
    configuration = okta.Configuration()
    assert configuration.host == "https://subdomain.okta.com"
    assert (configuration.api_key, configuration.api_key_prefix) == ({}, {})
    assert configuration.access_token is None
    assert configuration.verify_ssl is True and configuration.ssl_ca_cert is None
    assert configuration.timeout == 30.0 and configuration.proxy is None
    assert (configuration.max_retries, configuration.max_retry_wait) == (2, 60.0)
    assert configuration.authorization() is None


@pytest.mark.parametrize(
    ("api_key", "prefix", "access_token", "expected"),
    [
        ("tok", None, None, "SSWS tok"),
        ("tok", "Bearer", None, "Bearer tok"),
        ("tok", None, "", "SSWS tok"),  # the seed with ACCESS_TOKEN=""
        ("tok", None, "at", "SSWS tok"),  # both set: the API token wins
        (None, None, "at", "Bearer at"),
        ("", None, "at", "Bearer at"),  # the seed with API_KEY=""
        ("  tok\n", None, None, "SSWS tok"),  # a token read from a file, newline and all
        (None, None, None, None),
        ("", None, "", None),
    ],
)
def test_which_credential_is_sent(
    make_client: Client,
    server: MockServer,
    api_key: str | None,
    prefix: str | None,
    access_token: str | None,
    expected: str | None,
) -> None:
    """API token first (SSWS, or its configured prefix), else the access token (Bearer)."""
    configuration = okta.Configuration(host=HOST)
    if api_key is not None:
        configuration.api_key["apiToken"] = api_key
    if prefix is not None:
        configuration.api_key_prefix["apiToken"] = prefix
    configuration.access_token = access_token
    assert sent_authorization(make_client, server, configuration) == expected


def test_credentials_set_after_the_client_are_used(
    api_client: okta.ApiClient, server: MockServer
) -> None:
    """The header is computed per request, from the configuration as it is then."""
    keys_api = okta.AuthorizationServerKeysApi(api_client)
    api_client.configuration.api_key.clear()
    api_client.configuration.access_token = "fresh"
    server.queue(json_response(200, []))
    keys_api.list_authorization_server_keys("default")
    assert server.request.headers["Authorization"] == "Bearer fresh"


def test_get_api_key_with_prefix() -> None:
    """The generated SDK's helper: the prefixed key, or None."""
    configuration = okta.Configuration(api_key={"apiToken": "t"})
    assert configuration.get_api_key_with_prefix("apiToken") == "SSWS t"
    assert configuration.get_api_key_with_prefix("other") is None


def test_repr_hides_secrets() -> None:
    """Neither token shows in the repr (it ends up in logs)."""
    configuration = okta.Configuration(api_key={"apiToken": "s3cr3t-api"}, access_token="s3cr3t-at")
    assert "s3cr3t" not in repr(configuration)
    assert "subdomain.okta.com" in repr(configuration)


def test_host_may_end_with_a_slash_or_hold_a_path(make_client: Client, server: MockServer) -> None:
    """A trailing slash is dropped; a path prefix (behind a reverse proxy) is kept."""
    for host, url in [
        (f"{HOST}/", f"{HOST}/api/v1/authorizationServers"),
        (f"{HOST}/okta/", f"{HOST}/okta/api/v1/authorizationServers"),
    ]:
        server.queue(json_response(200, []))
        okta.AuthorizationServerApi(
            make_client(okta.Configuration(host=host))
        ).list_authorization_servers()
        assert str(server.request.url) == url


def test_user_agent_and_default_headers(api_client: okta.ApiClient, server: MockServer) -> None:
    """User-Agent names the client and Python versions; extra default headers are sent."""
    assert api_client.user_agent == (
        f"keyrotor-okta-client/{okta.__version__} python/{platform.python_version()}"
    )
    api_client.set_default_header("X-Trace", "t1")
    server.queue(json_response(200, []))
    okta.AuthorizationServerKeysApi(api_client).list_authorization_server_keys("default")
    assert server.request.headers["User-Agent"] == api_client.user_agent
    assert server.request.headers["X-Trace"] == "t1"
    api_client.user_agent = "mine/1"
    assert api_client.default_headers["User-Agent"] == "mine/1"


def test_tls_verification_is_on_by_default() -> None:
    """By default the certificate is checked against the bundled roots."""
    verify = ssl_verification(okta.Configuration())
    assert isinstance(verify, ssl.SSLContext)
    assert verify.verify_mode == ssl.CERT_REQUIRED and verify.check_hostname


def test_tls_verification_can_be_turned_off() -> None:
    """verify_ssl=False turns checking off (for a lab server)."""
    assert ssl_verification(okta.Configuration(verify_ssl=False)) is False


def test_a_ca_bundle_is_loaded(tmp_path: Path) -> None:
    """ssl_ca_cert names a CA bundle; a missing file fails loudly at construction."""
    verify = ssl_verification(okta.Configuration(ssl_ca_cert=certifi.where()))
    assert isinstance(verify, ssl.SSLContext) and verify.cert_store_stats()["x509_ca"] > 0
    with pytest.raises(FileNotFoundError):
        okta.ApiClient(okta.Configuration(ssl_ca_cert=str(tmp_path / "missing.pem")))


def test_timeout_and_proxy_reach_httpx() -> None:
    """timeout and proxy configure the pooled httpx client."""
    configuration = okta.Configuration(timeout=2.5, proxy="http://proxy.example:3128")
    with okta.ApiClient(configuration) as client:
        httpx_client = client.rest_client._client
        assert httpx_client.timeout == httpx.Timeout(2.5)
        proxied = httpx_client._transport_for_url(httpx.URL("https://subdomain.okta.com/"))
        assert isinstance(proxied, httpx.HTTPTransport)
        assert proxied is not httpx_client._transport


def test_the_client_is_a_context_manager_that_closes(configuration: okta.Configuration) -> None:
    """Leaving the with block closes the pool; the client can also be closed by hand."""
    with okta.ApiClient(configuration) as client:
        assert not client.rest_client._client.is_closed
    assert client.rest_client._client.is_closed
    other = okta.ApiClient(configuration)
    other.close()
    assert other.rest_client._client.is_closed
