"""What handlers take from the app and the path: the services, and the server id."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from keyrotor.audit import Actor, actor_of
from keyrotor.errors import NotFound
from keyrotor.oauth import OAuthService
from keyrotor.servers import ORG_SERVER_ID
from keyrotor.service import SERVER_TYPE, KeyService
from keyrotor.snapshots import Snapshot


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


async def snapshot(request: Request) -> Snapshot:
    """The path's server as reads see it: cached, or read in a worker thread."""
    service, found = key_service(request), server_id(request)
    cached = service.peek(found)
    return cached if cached is not None else await run_in_threadpool(service.snapshot, found)


def actor(request: Request) -> Actor:
    """Who is calling (``requires`` authenticated it), for the audit record."""
    return actor_of(getattr(request.state, "principal", None))
