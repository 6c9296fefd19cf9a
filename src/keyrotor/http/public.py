"""The public endpoints of each authorization server: JWKS and discovery (no authentication)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.errors import NotFound
from keyrotor.http.render import OktaJSON, base_url, issuer
from keyrotor.service import SERVER_TYPE, KeyService


def _service(request: Request) -> KeyService:
    service: KeyService = request.app.state.service
    return service


async def jwks(request: Request) -> Response:
    """``/oauth2/{id}/v1/keys``: public members only, cacheable until the next key change."""
    found = await run_in_threadpool(_service(request).jwks, request.path_params["server_id"])
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
    server_id = request.path_params["server_id"]
    server = await run_in_threadpool(_service(request).get_server, server_id)
    if not server.is_active:
        raise NotFound(server_id, SERVER_TYPE)
    return OktaJSON(metadata(issuer(base_url(request), server.id)))


def metadata(iss: str) -> dict[str, Any]:
    return {
        "issuer": iss,
        "jwks_uri": f"{iss}/v1/keys",
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "request_parameter_supported": False,
    }


routes = [
    Route("/oauth2/{server_id}/v1/keys", jwks, methods=["GET"]),
    Route("/oauth2/{server_id}/.well-known/openid-configuration", discovery, methods=["GET"]),
    Route("/oauth2/{server_id}/.well-known/oauth-authorization-server", discovery, methods=["GET"]),
]
