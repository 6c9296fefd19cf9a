"""Okta's API tokens API: ``/api/v1/api-tokens`` (list, get, revoke, revoke ``current``).

Every route needs ``okta.authorizationServers.manage``, reads included: an API token
opens the whole management API, so even its metadata is for administrators. Only active
tokens are listed or found; a revoked or expired one is 404 E0000007, as an unknown one.
The list is not paginated (Okta documents no ``limit`` or ``after`` for it).

``DELETE /api/v1/api-tokens/current`` revokes the API token of the call itself. Okta allows
it for API tokens only: a caller with an org-server access token gets 403 E0000006. A token
that was revoked meanwhile (by another replica, say) gets 401 E0000011.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.apitoken_service import ApiTokenService
from keyrotor.apitokens import SCOPE_MANAGE, ApiToken, okta_json
from keyrotor.errors import InvalidToken, NotFound, PermissionDenied
from keyrotor.http.auth import requires
from keyrotor.http.render import OktaJSON, base_url
from keyrotor.http.state import actor, key_service

PREFIX = "/api/v1/api-tokens"


def _tokens(request: Request) -> ApiTokenService:
    return key_service(request).api_tokens


@requires(SCOPE_MANAGE)
async def list_tokens(request: Request) -> Response:
    found = await run_in_threadpool(_tokens(request).list_active)
    base = base_url(request)
    return OktaJSON([okta_json(token, base) for token in found])


@requires(SCOPE_MANAGE)
async def get_token(request: Request) -> Response:
    token_id = str(request.path_params["token_id"])
    found = await run_in_threadpool(_tokens(request).get, token_id)
    return OktaJSON(okta_json(found, base_url(request)))


@requires(SCOPE_MANAGE)
async def revoke_token(request: Request) -> Response:
    token_id = str(request.path_params["token_id"])
    await run_in_threadpool(_tokens(request).revoke, token_id, actor(request))
    return Response(status_code=204)


@requires(SCOPE_MANAGE)
async def revoke_current(request: Request) -> Response:
    caller = request.state.principal
    if not isinstance(caller, ApiToken):  # an org-server access token: not an API token
        raise PermissionDenied()
    try:
        await run_in_threadpool(_tokens(request).revoke, caller.id, actor(request))
    except NotFound:
        raise InvalidToken() from None
    return Response(status_code=204)


routes = [
    Route(PREFIX, list_tokens, methods=["GET"]),
    Route(PREFIX + "/current", revoke_current, methods=["DELETE"]),
    Route(PREFIX + "/{token_id}", get_token, methods=["GET"]),
    Route(PREFIX + "/{token_id}", revoke_token, methods=["DELETE"]),
]
