"""Okta's scopes API: ``/api/v1/authorizationServers/{authServerId}/scopes``."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.http.auth import requires
from keyrotor.http.body import json_body
from keyrotor.http.render import OktaJSON, base_url, link
from keyrotor.http.state import oauth_service
from keyrotor.scopes import Scope, parse_scope

PREFIX = "/api/v1/authorizationServers/{server_id}/scopes"


def scope_json(scope: Scope, base: str) -> dict[str, Any]:
    """Okta's ``OAuth2Scope``; ``displayName`` only when one is set (never a null member)."""
    href = f"{base}/api/v1/authorizationServers/{scope.server_id}/scopes/{scope.id}"
    shown: dict[str, Any] = {
        "id": scope.id,
        "name": scope.name,
        "description": scope.description,
        "system": scope.system,
        "metadataPublish": scope.metadata_publish.value,
        "consent": scope.consent.value,
        "optional": scope.optional,
        "default": scope.default,
    }
    if scope.display_name is not None:
        shown["displayName"] = scope.display_name
    shown["_links"] = {"self": link(href, "GET", "PUT", "DELETE")}
    return shown


def _ids(request: Request) -> tuple[str, str]:
    params = request.path_params
    return str(params["server_id"]), str(params.get("scope_id", ""))


@requires(SCOPE_READ)
async def list_scopes(request: Request) -> Response:
    server_id, _ = _ids(request)
    found = await run_in_threadpool(oauth_service(request).list_scopes, server_id)
    return OktaJSON([scope_json(s, base_url(request)) for s in found])


@requires(SCOPE_MANAGE)
async def create_scope(request: Request) -> Response:
    server_id, _ = _ids(request)
    spec = parse_scope(await json_body(request))
    scope = await run_in_threadpool(oauth_service(request).create_scope, server_id, spec)
    return OktaJSON(scope_json(scope, base_url(request)), status_code=201)


@requires(SCOPE_READ)
async def get_scope(request: Request) -> Response:
    scope = await run_in_threadpool(oauth_service(request).get_scope, *_ids(request))
    return OktaJSON(scope_json(scope, base_url(request)))


@requires(SCOPE_MANAGE)
async def replace_scope(request: Request) -> Response:
    spec = parse_scope(await json_body(request))
    scope = await run_in_threadpool(oauth_service(request).replace_scope, *_ids(request), spec)
    return OktaJSON(scope_json(scope, base_url(request)))


@requires(SCOPE_MANAGE)
async def delete_scope(request: Request) -> Response:
    await run_in_threadpool(oauth_service(request).delete_scope, *_ids(request))
    return Response(status_code=204)


routes = [
    Route(PREFIX, list_scopes, methods=["GET"]),
    Route(PREFIX, create_scope, methods=["POST"]),
    Route(PREFIX + "/{scope_id}", get_scope, methods=["GET"]),
    Route(PREFIX + "/{scope_id}", replace_scope, methods=["PUT"]),
    Route(PREFIX + "/{scope_id}", delete_scope, methods=["DELETE"]),
]
