"""Okta's client JSON Web Keys: ``/api/v1/apps/{appId}/credentials/jwks`` (the app id is
the client id): list, add, get, delete, activate, deactivate.

Reading needs ``okta.authorizationServers.read``, changing ``.manage``, as for the app's
grants. Only a ``private_key_jwt`` client that registered its keys inline has keys here; one
with a ``jwks_uri`` (or a secret) lists none and cannot add any.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.client_jwks import ClientJwk, parse_jwk
from keyrotor.clock import iso
from keyrotor.http.auth import requires
from keyrotor.http.body import json_body
from keyrotor.http.render import OktaJSON, base_url, lifecycle_links
from keyrotor.http.state import actor, oauth_service

PREFIX = "/api/v1/apps/{app_id}/credentials/jwks"
_FIRST = ("kid", "kty", "alg", "use")  # Okta's order: then the key's own members
_SHOWN_ELSEWHERE = {*_FIRST, "status"}


def jwk_json(key: ClientJwk, base: str) -> dict[str, Any]:
    """Okta's ``OAuth2ClientJsonSigningKeyResponse``: the key as registered, always a
    signing key (``use: sig``), its status and times, and the links its status allows."""
    href = f"{base}/api/v1/apps/{key.client_id}/credentials/jwks/{key.id}"
    body: dict[str, Any] = {"id": key.id, "kid": key.kid, "kty": key.jwk.get("kty")}
    if key.jwk.get("alg") is not None:
        body["alg"] = key.jwk["alg"]
    body["use"] = "sig"
    body.update({k: v for k, v in key.jwk.items() if k not in _SHOWN_ELSEWHERE})
    body["status"] = key.status.value
    body["created"] = iso(key.created)
    body["lastUpdated"] = iso(key.last_updated)
    body["_links"] = lifecycle_links(href, key.active)
    return body


def _ids(request: Request) -> tuple[str, str]:
    params = request.path_params
    return str(params["app_id"]), str(params.get("key_id", ""))


@requires(SCOPE_READ)
async def list_jwks(request: Request) -> Response:
    app_id, _ = _ids(request)
    found = await run_in_threadpool(oauth_service(request).jwks.list_keys, app_id)
    return OktaJSON([jwk_json(k, base_url(request)) for k in found])


@requires(SCOPE_MANAGE)
async def add_jwk(request: Request) -> Response:
    app_id, _ = _ids(request)
    jwk, status = parse_jwk(await json_body(request))
    service = oauth_service(request).jwks
    made = await run_in_threadpool(service.add, app_id, jwk, status, actor(request))
    return OktaJSON(jwk_json(made, base_url(request)), status_code=201)


@requires(SCOPE_READ)
async def get_jwk(request: Request) -> Response:
    found = await run_in_threadpool(oauth_service(request).jwks.get_key, *_ids(request))
    return OktaJSON(jwk_json(found, base_url(request)))


@requires(SCOPE_MANAGE)
async def delete_jwk(request: Request) -> Response:
    await run_in_threadpool(oauth_service(request).jwks.delete, *_ids(request), actor(request))
    return Response(status_code=204)


@requires(SCOPE_MANAGE)
async def activate_jwk(request: Request) -> Response:
    service = oauth_service(request).jwks
    done = await run_in_threadpool(service.activate, *_ids(request), actor(request))
    return OktaJSON(jwk_json(done, base_url(request)))


@requires(SCOPE_MANAGE)
async def deactivate_jwk(request: Request) -> Response:
    service = oauth_service(request).jwks
    done = await run_in_threadpool(service.deactivate, *_ids(request), actor(request))
    return OktaJSON(jwk_json(done, base_url(request)))


routes = [
    Route(PREFIX, list_jwks, methods=["GET"]),
    Route(PREFIX, add_jwk, methods=["POST"]),
    Route(PREFIX + "/{key_id}", get_jwk, methods=["GET"]),
    Route(PREFIX + "/{key_id}", delete_jwk, methods=["DELETE"]),
    Route(PREFIX + "/{key_id}/lifecycle/activate", activate_jwk, methods=["POST"]),
    Route(PREFIX + "/{key_id}/lifecycle/deactivate", deactivate_jwk, methods=["POST"]),
]
