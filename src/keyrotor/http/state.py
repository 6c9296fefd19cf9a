"""What handlers take from the app and the path: the services, and the server id."""

from __future__ import annotations

from starlette.requests import Request

from keyrotor.errors import NotFound
from keyrotor.oauth import OAuthService
from keyrotor.servers import ORG_SERVER_ID
from keyrotor.service import SERVER_TYPE, KeyService


def key_service(request: Request) -> KeyService:
    service: KeyService = request.app.state.service
    return service


def oauth_service(request: Request) -> OAuthService:
    service: OAuthService = request.app.state.oauth
    return service


def server_id(request: Request) -> str:
    """The ``{server_id}`` of the path; the org server is neither managed nor published
    under an id (it lives at ``/oauth2/v1/…``), so it is not found there."""
    found = str(request.path_params["server_id"])
    if found == ORG_SERVER_ID:
        raise NotFound(found, SERVER_TYPE)
    return found
