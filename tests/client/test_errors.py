"""Error answers become the right ApiException subclass; transport failures never leak httpx."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

import okta
import okta.exceptions
import okta.rest
from okta.rest import ApiException

from .conftest import MockServer, json_response, okta_error

CASES = [
    (400, "E0000001", okta.BadRequestException),
    (401, "E0000011", okta.UnauthorizedException),
    (403, "E0000006", okta.ForbiddenException),
    (404, "E0000007", okta.NotFoundException),
]


@pytest.mark.parametrize(("status", "code", "exception"), CASES)
def test_error_statuses_map_to_exceptions(
    keys_api: okta.AuthorizationServerKeysApi,
    server: MockServer,
    status: int,
    code: str,
    exception: type[ApiException],
) -> None:
    """Each status raises its subclass, carrying the parsed Okta error."""
    server.queue(json_response(status, okta_error(code), X_Okta_Request_Id="req1"))
    with pytest.raises(exception) as caught:
        keys_api.list_authorization_server_keys("default")
    error = caught.value
    assert isinstance(error, ApiException) and isinstance(error, okta.OpenApiException)
    assert error.status == status
    assert error.reason == httpx.codes.get_reason_phrase(status)
    assert error.headers["x-okta-request-id"] == "req1"
    assert error.error_code == code
    assert error.error_summary == okta_error(code)["errorSummary"]
    assert error.error_id == okta_error(code)["errorId"]
    assert isinstance(error.data, okta.Error)
    assert error.body is not None and code in error.body


def test_the_rotate_400_shows_its_cause(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer
) -> None:
    """str() of an error is readable: status, reason, code, summary, causes, errorId."""
    server.queue(json_response(400, okta_error("E0000001")))
    with pytest.raises(okta.BadRequestException) as caught:
        keys_api.rotate_authorization_server_keys("default", okta.JwkUse(use="enc"))
    assert caught.value.error_causes == ["Invalid value specified for key 'use' parameter"]
    assert str(caught.value) == (
        "(400) Bad Request: E0000001: Api validation failed: rotateKeys\n"
        "  cause: Invalid value specified for key 'use' parameter\n"
        "  errorId: oaeJ8vDq0qXQ6yQ3qWJ3l2Z7A"
    )


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_raise_service_exception(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer, status: int
) -> None:
    """5xx raises ServiceException, also when the body is not JSON."""
    server.queue(httpx.Response(status, text="<html>upstream down</html>"))
    with pytest.raises(okta.ServiceException) as caught:
        keys_api.list_authorization_server_keys("default")
    assert caught.value.status == status
    assert caught.value.data is None and caught.value.error_code is None
    assert "upstream down" in str(caught.value)


def test_other_statuses_raise_the_base_class(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer
) -> None:
    """A status without a subclass (405 E0000022, a redirect) raises ApiException itself."""
    server.queue(
        json_response(405, {"errorCode": "E0000022", "errorSummary": "no"}),
        httpx.Response(302, headers={"Location": "https://elsewhere.example/"}),
    )
    for status in (405, 302):
        with pytest.raises(ApiException) as caught:
            keys_api.list_authorization_server_keys("default")
        assert type(caught.value) is ApiException and caught.value.status == status


def test_a_non_okta_json_error_keeps_its_body(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer
) -> None:
    """An OAuth-style error body is kept as text; its members stay reachable in data."""
    server.queue(json_response(401, {"error": "invalid_client"}))
    with pytest.raises(okta.UnauthorizedException) as caught:
        keys_api.list_authorization_server_keys("default")
    assert caught.value.error_code is None
    assert "invalid_client" in str(caught.value)


def test_exceptions_are_importable_from_rest_and_exceptions() -> None:
    """okta.rest re-exports the tree of okta.exceptions, as Okta's generated SDK does."""
    for name in okta.exceptions.__all__:
        assert getattr(okta.rest, name) is getattr(okta.exceptions, name)
        assert getattr(okta, name) is getattr(okta.exceptions, name)


def test_api_exception_can_be_built_by_hand() -> None:
    """ApiException's constructor matches the generated one's leading arguments."""
    error = ApiException(404, "Not Found")
    assert (error.status, error.reason, error.body, error.data, dict(error.headers)) == (
        404,
        "Not Found",
        None,
        None,
        {},
    )
    assert str(error) == "(404) Not Found"


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ProxyError("407 Proxy Authentication Required"),
        httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."),
    ],
)
def test_transport_failures_raise_api_connection_error(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer, failure: Exception
) -> None:
    """No answer raises ApiConnectionError naming the request; the httpx error is the cause."""
    server.queue(failure)
    with pytest.raises(okta.ApiConnectionError) as caught:
        keys_api.list_authorization_server_keys("default")
    error = caught.value
    assert not isinstance(error, okta.ApiTimeoutError)
    assert error.method == "GET" and error.url.endswith("/default/credentials/keys")
    assert str(failure) in str(error) and "GET https://example.okta.com/" in str(error)
    assert error.__cause__ is failure


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectTimeout("timed out"), httpx.ReadTimeout("timed out"), httpx.PoolTimeout("x")],
)
def test_timeouts_raise_api_timeout_error(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer, failure: Exception
) -> None:
    """Timeouts raise ApiTimeoutError, a kind of ApiConnectionError."""
    server.queue(failure)
    with pytest.raises(okta.ApiTimeoutError, match="timed out") as caught:
        keys_api.rotate_authorization_server_keys("default", okta.JwkUse())
    assert isinstance(caught.value, okta.ApiConnectionError)
    assert caught.value.method == "POST"


def test_an_unreachable_server_raises_api_connection_error() -> None:
    """A real connection to a closed port (no mock) fails with ApiConnectionError."""
    configuration = okta.Configuration(host="http://127.0.0.1:9", timeout=5)
    configuration.api_key["apiToken"] = "x"
    with okta.ApiClient(configuration) as client, pytest.raises(okta.ApiConnectionError):
        okta.AuthorizationServerKeysApi(client).list_authorization_server_keys("default")


@pytest.mark.parametrize(
    "body",
    [b"<html>captive portal</html>", b"", b'{"kid": "not a list"}', b'[{"kid": 7}]'],
)
def test_an_unreadable_success_body_raises_unexpected_response_error(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer, body: bytes
) -> None:
    """A 200 whose body is not a key list raises UnexpectedResponseError, with the body."""
    server.queue(httpx.Response(200, content=body))
    with pytest.raises(okta.UnexpectedResponseError) as caught:
        keys_api.list_authorization_server_keys("default")
    assert caught.value.status == 200 and caught.value.body == body
    assert "list[" in str(caught.value)


@pytest.mark.parametrize(
    "host", ["subdomain.okta.com", "ftp://subdomain.okta.com", "https://", "https://h:port"]
)
def test_an_invalid_host_raises_api_value_error(host: str, server: MockServer) -> None:
    """A host that is not an http(s) URL is refused with ApiValueError, before any request."""
    configuration = okta.Configuration(host=host)
    with (
        okta.ApiClient(configuration, transport=httpx.MockTransport(server)) as client,
        pytest.raises(okta.ApiValueError, match="URL"),
    ):
        okta.AuthorizationServerKeysApi(client).list_authorization_server_keys("default")
    assert server.requests == []


def every_call(api_client: okta.ApiClient) -> list[tuple[str, Callable[[], object]]]:
    """Each public method of both Api classes, with valid arguments."""
    keys = okta.AuthorizationServerKeysApi(api_client)
    servers = okta.AuthorizationServerApi(api_client)
    server = okta.AuthorizationServer(name="n", audiences=["a"])
    calls: list[tuple[str, Callable[[], object]]] = [
        ("list_authorization_server_keys", lambda: keys.list_authorization_server_keys("s")),
        ("get_authorization_server_key", lambda: keys.get_authorization_server_key("s", "k")),
        ("rotate_authorization_server_keys", lambda: keys.rotate_authorization_server_keys("s")),
        ("create_authorization_server", lambda: servers.create_authorization_server(server)),
        ("list_authorization_servers", lambda: servers.list_authorization_servers()),
        ("iter_authorization_servers", lambda: list(servers.iter_authorization_servers())),
        ("get_authorization_server", lambda: servers.get_authorization_server("s")),
        ("replace_authorization_server", lambda: servers.replace_authorization_server("s", server)),
        ("delete_authorization_server", lambda: servers.delete_authorization_server("s")),
        ("activate_authorization_server", lambda: servers.activate_authorization_server("s")),
        ("deactivate_authorization_server", lambda: servers.deactivate_authorization_server("s")),
    ]
    return calls


@pytest.mark.parametrize(("status", "code", "exception"), CASES)
def test_every_method_raises_the_mapped_exception(
    api_client: okta.ApiClient,
    server: MockServer,
    status: int,
    code: str,
    exception: type[ApiException],
) -> None:
    """Every method of both Api classes maps each error status the same way."""
    for name, call in every_call(api_client):
        server.queue(json_response(status, okta_error(code)))
        with pytest.raises(exception) as caught:
            call()
        assert caught.value.error_code == code, name
