"""The public endpoints of each authorization server: JWKS and discovery (no authentication)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.clients import CLIENT_CREDENTIALS, AuthMethod
from keyrotor.http.render import OktaJSON, base_url, issuer
from keyrotor.http.state import key_service, oauth_service, server_id
from keyrotor.service import Jwks


async def jwks(request: Request) -> Response:
    """``/oauth2/{id}/v1/keys``: public members only, cacheable until the next key change."""
    found = await run_in_threadpool(key_service(request).jwks, server_id(request))
    return jwks_response(request, found)


def jwks_response(request: Request, found: Jwks) -> Response:
    headers = {
        "Cache-Control": f"max-age={found.max_age}, must-revalidate",
        "ETag": found.etag,
    }
    if found.etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type="application/json", headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",") if tag.strip()}


async def discovery(request: Request) -> Response:
    """Both ``.well-known`` documents: what this server really offers, nothing more."""
    found = server_id(request)
    oauth = oauth_service(request)
    scopes = await run_in_threadpool(oauth.published_scopes, found)
    base = base_url(request)
    iss = issuer(base, found)
    return OktaJSON(metadata(iss, iss, base, scopes))


def metadata(iss: str, endpoints: str, base: str, scopes: Sequence[str]) -> dict[str, Any]:
    """RFC 8414 / OpenID discovery: ``endpoints`` is the prefix of ``/v1/keys`` and
    ``/v1/token``; registration (RFC 7591) is the org's ``/oauth2/v1/clients``. There is no
    authorization, userinfo, introspection or revocation endpoint, so none is listed."""
    return {
        "issuer": iss,
        "jwks_uri": f"{endpoints}/v1/keys",
        "token_endpoint": f"{endpoints}/v1/token",
        "registration_endpoint": f"{base}/oauth2/v1/clients",
        "scopes_supported": list(scopes),
        "response_types_supported": [],
        "grant_types_supported": [CLIENT_CREDENTIALS],
        "token_endpoint_auth_methods_supported": [m.value for m in AuthMethod],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "request_parameter_supported": False,
    }


routes = [
    Route("/oauth2/{server_id}/v1/keys", jwks, methods=["GET"]),
    Route("/oauth2/{server_id}/.well-known/openid-configuration", discovery, methods=["GET"]),
    Route("/oauth2/{server_id}/.well-known/oauth-authorization-server", discovery, methods=["GET"]),
]
