"""AuthorizationServerApi over a mock transport: CRUD, lifecycle and pagination."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

import okta

from .conftest import HOST, TOKEN, MockServer, fixture, json_response

SERVERS_URL = f"{HOST}/api/v1/authorizationServers"
SERVER_ID = fixture("authorization_server")["id"]
SERVER_URL = f"{SERVERS_URL}/{SERVER_ID}"


def new_server() -> okta.AuthorizationServer:
    return okta.AuthorizationServer(
        name="python_sdk_test", description="Test Auth Server", audiences=["api://default"]
    )


def test_create_posts_the_writable_members(
    servers_api: okta.AuthorizationServerApi, server: MockServer
) -> None:
    """Create is a POST of name, description and audiences, answered 201 with the server."""
    server.queue(json_response(201, fixture("authorization_server")))
    created = servers_api.create_authorization_server(new_server())
    request = server.request
    assert (request.method, str(request.url)) == ("POST", SERVERS_URL)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == f"SSWS {TOKEN}"
    assert json.loads(request.content) == {
        "name": "python_sdk_test",
        "description": "Test Auth Server",
        "audiences": ["api://default"],
    }
    assert created.id == SERVER_ID
    assert created.status == okta.LifecycleStatus.ACTIVE
    assert created.issuer_mode == okta.IssuerMode.ORG_URL
    assert created.created == datetime(2020, 8, 27, 18, 15, 21, tzinfo=UTC)


def test_create_with_http_info_reports_201(
    servers_api: okta.AuthorizationServerApi, server: MockServer
) -> None:
    """The _with_http_info variant shows the 201."""
    server.queue(json_response(201, fixture("authorization_server")))
    response = servers_api.create_authorization_server_with_http_info(new_server())
    assert response.status_code == 201
    assert response.data.name == "python_sdk_test"


def test_create_needs_a_server(servers_api: okta.AuthorizationServerApi) -> None:
    """Create without a model is refused before sending."""
    with pytest.raises(okta.ApiValueError, match="authorization_server"):
        servers_api.create_authorization_server(None)  # type: ignore[arg-type]


def test_credentials_and_links_are_typed(
    servers_api: okta.AuthorizationServerApi, server: MockServer
) -> None:
    """credentials.signing and _links become nested models; metadata is a list of links."""
    server.queue(json_response(200, fixture("authorization_server")))
    got = servers_api.get_authorization_server(SERVER_ID)
    assert (server.request.method, str(server.request.url)) == ("GET", SERVER_URL)
    assert got.credentials is not None and got.credentials.signing is not None
    signing = got.credentials.signing
    assert signing.rotation_mode == okta.AuthorizationServerCredentialsRotationMode.AUTO
    assert signing.kid == "hIPbAEm1jCxqSDGiCgGxsUd9QFHZewM39ObzqOzRpJc"
    assert signing.next_rotation == datetime(2020, 11, 25, 18, 15, 21, tzinfo=UTC)
    assert got.links is not None and got.links.metadata is not None
    assert [link.name for link in got.links.metadata] == [
        "oauth-authorization-server",
        "openid-configuration",
    ]
    assert got.links.rotate_key is not None and got.links.rotate_key.hints is not None
    assert got.links.rotate_key.hints.allow == [okta.HttpMethod.POST]
    assert got.links.deactivate is not None and got.links.activate is None


def test_get_with_http_info(servers_api: okta.AuthorizationServerApi, server: MockServer) -> None:
    """The _with_http_info variant of get."""
    server.queue(json_response(200, fixture("authorization_server")))
    assert servers_api.get_authorization_server_with_http_info(SERVER_ID).data.id == SERVER_ID


def test_replace_puts_without_read_only_members(
    servers_api: okta.AuthorizationServerApi, server: MockServer
) -> None:
    """Replace sends what may change; id, status, timestamps, kid and _links are left out."""
    current = okta.AuthorizationServer.from_dict(fixture("authorization_server"))
    current.name = "renamed"
    assert current.credentials is not None and current.credentials.signing is not None
    current.credentials.signing.rotation_mode = "MANUAL"
    server.queue(json_response(200, {**fixture("authorization_server"), "name": "renamed"}))
    replaced = servers_api.replace_authorization_server(SERVER_ID, current)
    assert (server.request.method, str(server.request.url)) == ("PUT", SERVER_URL)
    assert json.loads(server.request.content) == {
        "name": "renamed",
        "description": "Test Auth Server",
        "audiences": ["api://default"],
        "issuerMode": "ORG_URL",
        "credentials": {"signing": {"rotationMode": "MANUAL"}},
    }
    assert replaced.name == "renamed"


def test_replace_with_http_info(
    servers_api: okta.AuthorizationServerApi, server: MockServer
) -> None:
    """The _with_http_info variant of replace."""
    server.queue(json_response(200, fixture("authorization_server")))
    response = servers_api.replace_authorization_server_with_http_info(SERVER_ID, new_server())
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("operation", "method", "url"),
    [
        ("delete_authorization_server", "DELETE", SERVER_URL),
        ("activate_authorization_server", "POST", f"{SERVER_URL}/lifecycle/activate"),
        ("deactivate_authorization_server", "POST", f"{SERVER_URL}/lifecycle/deactivate"),
    ],
)
def test_no_content_operations(
    servers_api: okta.AuthorizationServerApi,
    server: MockServer,
    operation: str,
    method: str,
    url: str,
) -> None:
    """Delete, activate and deactivate answer 204 without a body; they return None."""
    server.queue(json_response(204), json_response(204))
    assert getattr(servers_api, operation)(SERVER_ID) is None
    assert (server.request.method, str(server.request.url)) == (method, url)
    assert server.request.content == b""
    assert "Content-Type" not in server.request.headers
    response = getattr(servers_api, f"{operation}_with_http_info")(SERVER_ID)
    assert (response.status_code, response.data, response.raw_data) == (204, None, b"")


def test_a_204_with_a_json_content_type_is_fine(
    servers_api: okta.AuthorizationServerApi, server: MockServer
) -> None:
    """Unlike Okta's SDK 3.4.6, an empty 204 that claims JSON does not break the client."""
    server.queue(json_response(204, Content_Type="application/json"))
    servers_api.delete_authorization_server(SERVER_ID)


def test_list_sends_only_the_given_query_parameters(
    servers_api: okta.AuthorizationServerApi, server: MockServer
) -> None:
    """q, limit and after go in the query string; None ones are left out."""
    server.queue(json_response(200, []), json_response(200, [fixture("authorization_server")]))
    assert servers_api.list_authorization_servers() == []
    assert str(server.request.url) == SERVERS_URL
    servers = servers_api.list_authorization_servers(q="python sdk", limit=2, after="c1")
    assert dict(server.request.url.params) == {"q": "python sdk", "limit": "2", "after": "c1"}
    assert [s.id for s in servers] == [SERVER_ID]


def page(ids: list[str], next_url: str | None) -> httpx.Response:
    links = [f'<{SERVERS_URL}?limit=2>; rel="self"']
    if next_url:
        links.append(f'<{next_url}>; rel="next"')
    servers = [{**fixture("authorization_server"), "id": id_} for id_ in ids]
    return json_response(200, servers, Link=", ".join(links))


def test_iter_follows_next_links_across_pages(
    servers_api: okta.AuthorizationServerApi, server: MockServer
) -> None:
    """iter_authorization_servers yields every server, page after page, until no next."""
    server.queue(
        page(["aus1", "aus2"], f"{SERVERS_URL}?after=aus2&limit=2&q=p"),
        page(["aus3", "aus4"], f"{SERVERS_URL}?after=aus4&limit=2&q=p"),
        page(["aus5"], None),
    )
    ids = [s.id for s in servers_api.iter_authorization_servers(q="p", limit=2)]
    assert ids == ["aus1", "aus2", "aus3", "aus4", "aus5"]
    assert [str(r.url) for r in server.requests] == [
        f"{SERVERS_URL}?q=p&limit=2",
        f"{SERVERS_URL}?after=aus2&limit=2&q=p",
        f"{SERVERS_URL}?after=aus4&limit=2&q=p",
    ]
    assert all(r.headers["Authorization"] == f"SSWS {TOKEN}" for r in server.requests)


def test_iter_is_lazy(servers_api: okta.AuthorizationServerApi, server: MockServer) -> None:
    """Pages after the first are fetched only as the iteration reaches them."""
    server.queue(page(["aus1"], f"{SERVERS_URL}?after=aus1"), page(["aus2"], None))
    servers = servers_api.iter_authorization_servers()
    assert next(servers).id == "aus1"
    assert len(server.requests) == 1
    assert [s.id for s in servers] == ["aus2"]


def test_next_links_to_another_host_stay_on_the_configured_host(
    servers_api: okta.AuthorizationServerApi, server: MockServer
) -> None:
    """A next link naming another host (a proxy's upstream) is sent to the configured host."""
    server.queue(
        page(["aus1"], "http://10.0.0.7:8080/api/v1/authorizationServers?after=aus1"),
        page(["aus2"], None),
    )
    assert [s.id for s in servers_api.iter_authorization_servers()] == ["aus1", "aus2"]
    assert str(server.request.url) == f"{SERVERS_URL}?after=aus1"


def test_a_next_link_loop_is_an_error(
    servers_api: okta.AuthorizationServerApi, server: MockServer
) -> None:
    """A server that links to a page already fetched raises instead of looping forever."""
    loop = f"{SERVERS_URL}?after=x"
    server.queue(page(["aus1"], loop), page(["aus2"], loop))
    with pytest.raises(okta.UnexpectedResponseError, match="pagination loop"):
        list(servers_api.iter_authorization_servers())
