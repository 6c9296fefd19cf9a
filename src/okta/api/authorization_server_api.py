"""``AuthorizationServerApi``: create, list, read, replace, delete and (de)activate servers."""

from __future__ import annotations

from collections.abc import Iterator

from okta.api_client import ApiClient
from okta.api_response import ApiResponse
from okta.exceptions import ApiValueError
from okta.models.authorization_server import AuthorizationServer
from okta.pagination import iter_pages

__all__ = ["AuthorizationServerApi"]

SERVERS_PATH = "/api/v1/authorizationServers"
SERVER_PATH = SERVERS_PATH + "/{auth_server_id}"
ACTIVATE_PATH = SERVER_PATH + "/lifecycle/activate"
DEACTIVATE_PATH = SERVER_PATH + "/lifecycle/deactivate"

Servers = list[AuthorizationServer]


class AuthorizationServerApi:
    """Custom authorization servers.

    Example::

        with okta.ApiClient(configuration) as api_client:
            servers = okta.AuthorizationServerApi(api_client)
            created = servers.create_authorization_server(
                okta.AuthorizationServer(name="payments", audiences=["api://payments"])
            )
            for server in servers.iter_authorization_servers(q="pay"):
                print(server.id, server.name, server.status)
            servers.deactivate_authorization_server(created.id)
            servers.delete_authorization_server(created.id)

    Reading needs the scope ``okta.authorizationServers.read``, changing
    ``okta.authorizationServers.manage``. An ACTIVE server must be deactivated before
    it can be deleted.
    """

    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client

    def create_authorization_server(
        self, authorization_server: AuthorizationServer
    ) -> AuthorizationServer:
        """Create a server (``name`` and ``audiences`` required); returns it (201)."""
        return self.create_authorization_server_with_http_info(authorization_server).data

    def create_authorization_server_with_http_info(
        self, authorization_server: AuthorizationServer
    ) -> ApiResponse[AuthorizationServer]:
        """``POST /api/v1/authorizationServers``."""
        return self.api_client.call_api(
            "POST", SERVERS_PATH, AuthorizationServer, body=_required(authorization_server)
        )

    def list_authorization_servers(
        self, q: str | None = None, limit: int | None = None, after: str | None = None
    ) -> Servers:
        """One page of servers: ``q`` matches name and audiences, ``after`` is a cursor."""
        return self.list_authorization_servers_with_http_info(q, limit, after).data

    def list_authorization_servers_with_http_info(
        self, q: str | None = None, limit: int | None = None, after: str | None = None
    ) -> ApiResponse[Servers]:
        """``GET /api/v1/authorizationServers``; the ``Link`` header leads to the next page."""
        query: dict[str, str | int | None] = {"q": q, "limit": limit, "after": after}
        return self.api_client.call_api("GET", SERVERS_PATH, Servers, query=query)

    def iter_authorization_servers(
        self, q: str | None = None, limit: int | None = None
    ) -> Iterator[AuthorizationServer]:
        """Every server, across pages (``limit`` per request), following ``rel="next"``."""
        first = self.list_authorization_servers_with_http_info(q, limit)
        return iter_pages(first, lambda url: self.api_client.call_api("GET", url, Servers))

    def get_authorization_server(self, auth_server_id: str) -> AuthorizationServer:
        """The server ``auth_server_id``."""
        return self.get_authorization_server_with_http_info(auth_server_id).data

    def get_authorization_server_with_http_info(
        self, auth_server_id: str
    ) -> ApiResponse[AuthorizationServer]:
        """``GET /api/v1/authorizationServers/{auth_server_id}``."""
        return self.api_client.call_api(
            "GET", SERVER_PATH, AuthorizationServer, path_params={"auth_server_id": auth_server_id}
        )

    def replace_authorization_server(
        self, auth_server_id: str, authorization_server: AuthorizationServer
    ) -> AuthorizationServer:
        """Replace name, description, audiences, issuer mode, rotation mode; returns it."""
        return self.replace_authorization_server_with_http_info(
            auth_server_id, authorization_server
        ).data

    def replace_authorization_server_with_http_info(
        self, auth_server_id: str, authorization_server: AuthorizationServer
    ) -> ApiResponse[AuthorizationServer]:
        """``PUT /api/v1/authorizationServers/{auth_server_id}``."""
        return self.api_client.call_api(
            "PUT",
            SERVER_PATH,
            AuthorizationServer,
            path_params={"auth_server_id": auth_server_id},
            body=_required(authorization_server),
        )

    def delete_authorization_server(self, auth_server_id: str) -> None:
        """Delete an inactive server (204)."""
        self.delete_authorization_server_with_http_info(auth_server_id)

    def delete_authorization_server_with_http_info(self, auth_server_id: str) -> ApiResponse[None]:
        """``DELETE /api/v1/authorizationServers/{auth_server_id}``."""
        return self.api_client.call_api(
            "DELETE", SERVER_PATH, path_params={"auth_server_id": auth_server_id}
        )

    def activate_authorization_server(self, auth_server_id: str) -> None:
        """Activate a server (204)."""
        self.activate_authorization_server_with_http_info(auth_server_id)

    def activate_authorization_server_with_http_info(
        self, auth_server_id: str
    ) -> ApiResponse[None]:
        """``POST …/{auth_server_id}/lifecycle/activate``."""
        return self.api_client.call_api(
            "POST", ACTIVATE_PATH, path_params={"auth_server_id": auth_server_id}
        )

    def deactivate_authorization_server(self, auth_server_id: str) -> None:
        """Deactivate a server (204)."""
        self.deactivate_authorization_server_with_http_info(auth_server_id)

    def deactivate_authorization_server_with_http_info(
        self, auth_server_id: str
    ) -> ApiResponse[None]:
        """``POST …/{auth_server_id}/lifecycle/deactivate``."""
        return self.api_client.call_api(
            "POST", DEACTIVATE_PATH, path_params={"auth_server_id": auth_server_id}
        )


def _required(authorization_server: AuthorizationServer) -> AuthorizationServer:
    if not isinstance(authorization_server, AuthorizationServer):
        raise ApiValueError("Missing the required parameter `authorization_server`")
    return authorization_server
