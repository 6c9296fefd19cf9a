"""Okta's app grants: ``/api/v1/apps/{appId}/grants`` (the app id is the client id).

Granting and revoking need ``okta.authorizationServers.manage``, reading ``.read``. A
grant gives a client one scope of the org authorization server; revoking it takes the
scope away from tokens already issued too, since the management API checks grants on
every call.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.clock import iso
from keyrotor.grants import Grant, parse_grant
from keyrotor.http.auth import requires
from keyrotor.http.body import json_body
from keyrotor.http.render import OktaJSON, base_url, link
from keyrotor.http.state import oauth_service

PREFIX = "/api/v1/apps/{app_id}/grants"


def grant_json(grant: Grant, base: str) -> dict[str, Any]:
    """Okta's ``OAuth2ScopeConsentGrant``; every grant here is an admin's, and ACTIVE."""
    app = f"{base}/api/v1/apps/{grant.client_id}"
    return {
        "id": grant.id,
        "status": "ACTIVE",
        "created": iso(grant.created),
        "createdBy": {"id": grant.created_by, "type": grant.created_by_type},
        "lastUpdated": iso(grant.created),
        "issuer": grant.issuer or base,
        "clientId": grant.client_id,
        "scopeId": grant.scope_id,
        "source": "ADMIN",
        "_embedded": {"scope": {"id": grant.scope_id}},
        "_links": {
            "app": {"href": app},
            "self": link(f"{app}/grants/{grant.id}", "GET", "DELETE"),
            "client": {"href": f"{base}/oauth2/v1/clients/{grant.client_id}"},
        },
    }


def _ids(request: Request) -> tuple[str, str]:
    params = request.path_params
    return str(params["app_id"]), str(params.get("grant_id", ""))


@requires(SCOPE_READ)
async def list_grants(request: Request) -> Response:
    app_id, _ = _ids(request)
    found = await run_in_threadpool(oauth_service(request).list_grants, app_id)
    return OktaJSON([grant_json(g, base_url(request)) for g in found])


@requires(SCOPE_MANAGE)
async def grant(request: Request) -> Response:
    app_id, _ = _ids(request)
    base = base_url(request)
    scope = parse_grant(await json_body(request), base)
    by = request.state.principal.id
    made = await run_in_threadpool(oauth_service(request).grant, app_id, scope, base, by)
    return OktaJSON(grant_json(made, base), status_code=201)


@requires(SCOPE_READ)
async def get_grant(request: Request) -> Response:
    found = await run_in_threadpool(oauth_service(request).get_grant, *_ids(request))
    return OktaJSON(grant_json(found, base_url(request)))


@requires(SCOPE_MANAGE)
async def revoke_grant(request: Request) -> Response:
    await run_in_threadpool(oauth_service(request).revoke_grant, *_ids(request))
    return Response(status_code=204)


routes = [
    Route(PREFIX, list_grants, methods=["GET"]),
    Route(PREFIX, grant, methods=["POST"]),
    Route(PREFIX + "/{grant_id}", get_grant, methods=["GET"]),
    Route(PREFIX + "/{grant_id}", revoke_grant, methods=["DELETE"]),
]
