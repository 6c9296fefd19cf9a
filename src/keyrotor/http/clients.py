"""RFC 7591 dynamic client registration at ``/oauth2/v1/clients``, as Okta serves it.

Registering, replacing, new secrets and deleting need ``okta.authorizationServers.manage``,
reading needs ``.read``; missing or wrong credentials answer Okta's 401/403 bodies.
Anything wrong with the metadata sent answers RFC 7591's ``invalid_client_metadata``.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.clients import SERVICE, AuthMethod, OAuthClient, parse_metadata
from keyrotor.errors import InvalidClientMetadata, KeyrotorError, PayloadTooLarge
from keyrotor.http.auth import requires
from keyrotor.http.body import json_body
from keyrotor.http.oauth import NO_STORE
from keyrotor.http.render import OktaJSON
from keyrotor.http.state import actor, oauth_service

PREFIX = "/oauth2/v1/clients"


def client_json(client: OAuthClient, secret: str | None = None) -> dict[str, Any]:
    """Okta's client, in the order Okta answers it; the secret only when it was just made."""
    meta = client.metadata
    body: dict[str, Any] = {"client_id": client.client_id}
    if secret is not None:
        body["client_secret"] = secret
    body["client_id_issued_at"] = int(client.created.timestamp())
    if client.auth_method.uses_secret:
        body["client_secret_expires_at"] = 0
    body["client_name"] = client.name
    body["client_uri"] = meta.get("client_uri")
    body["logo_uri"] = meta.get("logo_uri")
    body.update({k: meta[k] for k in ("policy_uri", "tos_uri") if meta.get(k) is not None})
    body.update(
        {
            "application_type": meta.get("application_type", SERVICE),
            "redirect_uris": [],
            "response_types": list(meta.get("response_types", [])),
            "grant_types": list(client.grant_types),
            "token_endpoint_auth_method": client.auth_method.value,
        }
    )
    if client.auth_method is AuthMethod.PRIVATE_KEY_JWT and client.jwks_uri is None:
        body["jwks"] = {"keys": client.jwks}  # its ACTIVE keys (client_jwks.py)
    body.update({k: meta[k] for k in ("jwks_uri",) if k in meta})
    body["dpop_bound_access_tokens"] = client.dpop_bound
    return body


async def _metadata(request: Request) -> Any:
    try:
        return await json_body(request)
    except PayloadTooLarge:  # 413 in Okta's body, as on every endpoint
        raise
    except KeyrotorError as exc:  # not JSON, not text: still the client's metadata at fault
        raise InvalidClientMetadata(exc.causes[0] if exc.causes else exc.summary) from None


@requires(SCOPE_MANAGE)
async def register(request: Request) -> Response:
    spec = parse_metadata(await _metadata(request))
    by = request.state.principal.id
    client, secret = await run_in_threadpool(
        oauth_service(request).register_client, spec, by, actor(request)
    )
    return OktaJSON(client_json(client, secret), status_code=201, headers=NO_STORE)


@requires(SCOPE_MANAGE)
async def replace_client(request: Request) -> Response:
    """PUT: the whole client again (Okta refuses partial updates); id and grants stay."""
    client_id = str(request.path_params["client_id"])
    oauth = oauth_service(request)
    current = await run_in_threadpool(oauth.get_client, client_id)
    spec = parse_metadata(await _metadata(request), current)
    client, secret = await run_in_threadpool(oauth.replace_client, client_id, spec, actor(request))
    return OktaJSON(client_json(client, secret), headers=NO_STORE)


@requires(SCOPE_MANAGE)
async def new_secret(request: Request) -> Response:
    client_id = str(request.path_params["client_id"])
    oauth = oauth_service(request)
    client, secret = await run_in_threadpool(oauth.new_secret, client_id, actor(request))
    return OktaJSON(client_json(client, secret), headers=NO_STORE)


@requires(SCOPE_READ)
async def list_clients(request: Request) -> Response:
    found = await run_in_threadpool(oauth_service(request).list_clients)
    return OktaJSON([client_json(c) for c in found], headers=NO_STORE)


@requires(SCOPE_READ)
async def get_client(request: Request) -> Response:
    client_id = str(request.path_params["client_id"])
    client = await run_in_threadpool(oauth_service(request).get_client, client_id)
    return OktaJSON(client_json(client), headers=NO_STORE)


@requires(SCOPE_MANAGE)
async def delete_client(request: Request) -> Response:
    client_id = str(request.path_params["client_id"])
    await run_in_threadpool(oauth_service(request).delete_client, client_id)
    return Response(status_code=204)


routes = [
    Route(PREFIX, register, methods=["POST"]),
    Route(PREFIX, list_clients, methods=["GET"]),
    Route(PREFIX + "/{client_id}", get_client, methods=["GET"]),
    Route(PREFIX + "/{client_id}", replace_client, methods=["PUT"]),
    Route(PREFIX + "/{client_id}", delete_client, methods=["DELETE"]),
    Route(PREFIX + "/{client_id}/lifecycle/newSecret", new_secret, methods=["POST"]),
]
