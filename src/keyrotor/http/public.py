"""The public endpoints of each authorization server: JWKS and discovery (no authentication)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.clients import CLIENT_CREDENTIALS, AuthMethod
from keyrotor.errors import UnknownClientId
from keyrotor.http.render import JSON_TYPE, base_url, issuer, memo_json
from keyrotor.http.state import key_service, oauth_service, server_id
from keyrotor.proofs import ALGORITHMS
from keyrotor.snapshots import Jwks, Snapshot


async def jwks(request: Request) -> Response:
    """``/oauth2/{id}/v1/keys``: public members only, cacheable until the next key change."""
    found = await run_in_threadpool(key_service(request).jwks, server_id(request))
    return jwks_response(request, found)


def jwks_response(request: Request, found: Jwks) -> Response:
    status, headers, body = jwks_answer(found, request.headers.get("if-none-match", ""))
    return Response(body, status_code=status, headers=headers)


def jwks_answer(found: Jwks, if_none_match: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a JWKS answer (``fast.py`` sends the same)."""
    headers = {
        "Cache-Control": f"max-age={found.max_age}, must-revalidate",
        "ETag": found.etag,
    }
    if if_none_match and found.etag in _etags(if_none_match):
        return 304, headers, b""
    headers["Content-Type"] = JSON_TYPE
    return 200, headers, found.body


def _etags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",") if tag.strip()}


async def discovery(request: Request) -> Response:
    """Both ``.well-known`` documents: what this server really offers, nothing more. A
    ``client_id`` in the query must name a registered client (there is one issuer format,
    so a known one changes nothing)."""
    found = server_id(request)
    oauth = oauth_service(request)
    snapshot = await run_in_threadpool(oauth.token_snapshot, found)
    await check_client_id(request)
    service = key_service(request)
    max_age = snapshot.max_age(service.clock(), service.jwks_max_age)
    headers = discovery_headers(max_age, request.app.state.public_url)
    body = discovery_body(snapshot, base_url(request))
    return Response(body, media_type=JSON_TYPE, headers=headers)


def discovery_headers(max_age: int, public_url: str | None) -> dict[str, str]:
    """Cacheable as long as the JWKS is (the next key change may change what is
    published); without a public URL the issuer in it follows the ``Host``."""
    headers = {"Cache-Control": f"max-age={max_age}, must-revalidate"}
    if not public_url:
        headers["Vary"] = "Host"
    return headers


def discovery_body(snapshot: Snapshot, base: str) -> bytes:
    """A custom server's discovery document, rendered once per snapshot and base URL."""
    iss = issuer(base, snapshot.server.id)
    return memo_json(
        snapshot.memo,
        ("discovery", base),
        lambda: metadata(iss, iss, base, snapshot.published_scopes),
    )


async def check_client_id(request: Request) -> None:
    """A ``client_id`` in a discovery query must name a registered client (there is one
    issuer format, so a known one changes nothing)."""
    client_id = request.query_params.get("client_id")
    if client_id is not None and (
        "\x00" in client_id  # no client has one, and PostgreSQL cannot even compare it
        or await run_in_threadpool(oauth_service(request).find_client, client_id) is None
    ):
        raise UnknownClientId()


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
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "dpop_signing_alg_values_supported": list(ALGORITHMS),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "request_parameter_supported": False,
    }


routes = [
    Route("/oauth2/{server_id}/v1/keys", jwks, methods=["GET"]),
    Route("/oauth2/{server_id}/.well-known/openid-configuration", discovery, methods=["GET"]),
    Route("/oauth2/{server_id}/.well-known/oauth-authorization-server", discovery, methods=["GET"]),
]
