"""Okta's management API: authorization servers and their credential keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.errors import NotFound, ValidationFailed
from keyrotor.http.auth import requires
from keyrotor.http.body import json_body
from keyrotor.http.render import (
    JSON_TYPE,
    OktaJSON,
    base_url,
    key_json,
    memo_json,
    render_json,
    server_json,
)
from keyrotor.http.state import key_service, server_id, snapshot
from keyrotor.members import check_members
from keyrotor.servers import IssuerMode, RotationMode, ServerStatus
from keyrotor.service import KEY_TYPE, Page, ServerSpec
from keyrotor.snapshots import Snapshot

MAX_LIMIT = 200
PREFIX = "/api/v1/authorizationServers"
# Okta's AuthorizationServer: the members keyrotor sets, then the read-only ones Okta's SDK
# sends back (accepted and ignored, as Okta ignores them; status changes by its lifecycle
# operations, the issuer follows issuerMode)
SERVER_MEMBERS = (
    *("name", "description", "audiences", "issuerMode", "credentials"),
    *("id", "issuer", "status", "created", "lastUpdated", "_links"),
)
SIGNING_MEMBERS = ("rotationMode", "use", "kid", "lastRotated", "nextRotation")
_NO_ENCRYPTION = "keyrotor does not encrypt access tokens; leave it out (or null)."
UNSUPPORTED = dict.fromkeys(
    ("accessTokenEncryptedResponseAlgorithm", "jwks", "jwks_uri"), _NO_ENCRYPTION
)


def _keys(request: Request, keys: list[Any]) -> OktaJSON:
    base = base_url(request)
    return OktaJSON([key_json(k, base, server_id(request)) for k in keys])


@requires(SCOPE_READ)
async def list_keys(request: Request) -> Response:
    found = await snapshot(request)
    return Response(keys_body(found, base_url(request)), media_type=JSON_TYPE)


@requires(SCOPE_READ)
async def get_key(request: Request) -> Response:
    kid = str(request.path_params["kid"])
    body = key_body(await snapshot(request), base_url(request), kid)
    if body is None:
        raise NotFound(kid, KEY_TYPE)
    return Response(body, media_type=JSON_TYPE)


def keys_body(found: Snapshot, base: str) -> bytes:
    """The key list of a server, rendered once per snapshot and base URL."""
    sid = found.server.id
    return memo_json(
        found.memo, ("keys", base), lambda: [key_json(k, base, sid) for k in found.keys]
    )


def key_body(found: Snapshot, base: str, kid: str) -> bytes | None:
    key = next((k for k in found.keys if k.kid == kid), None)
    if key is None:
        return None
    return memo_json(found.memo, ("key", base, kid), lambda: key_json(key, base, found.server.id))


def server_body(found: Snapshot, base: str) -> bytes:
    return memo_json(found.memo, ("server", base), lambda: server_json(found.server, base))


def page_answer(page: Page, base: str, q: str | None, limit: int) -> tuple[bytes, str]:
    """A page of the server list and its ``Link`` header, rendered once per base URL."""
    key = ("page", base)
    found = page.memo.get(key)
    if not isinstance(found, tuple):
        here = f"{base}{PREFIX}"
        links = [f'<{here}?{urlencode(_query(q, None, limit))}>; rel="self"']
        if page.next_after is not None:
            links.append(f'<{here}?{urlencode(_query(q, page.next_after, limit))}>; rel="next"')
        body = render_json([server_json(s, base) for s in page.servers])
        found = page.memo[key] = (body, ", ".join(links))
    return found


def list_query(params: Mapping[str, str]) -> tuple[str | None, int, str | None]:
    """``q``, ``limit`` and ``after`` of a server list request (a bad limit is refused)."""
    return params.get("q") or None, _limit(params.get("limit")), params.get("after")


@requires(SCOPE_MANAGE)
async def rotate_keys(request: Request) -> Response:
    body = await json_body(request)
    if not isinstance(body, dict) or body.get("use") != "sig":
        raise ValidationFailed("rotateKeys", "Invalid value specified for key 'use' parameter")
    keys = await run_in_threadpool(key_service(request).rotate, server_id(request))
    return _keys(request, keys)


@requires(SCOPE_READ)
async def list_servers(request: Request) -> Response:
    q, limit, after = list_query(request.query_params)
    page = await run_in_threadpool(key_service(request).list_servers, q, limit, after)
    body, links = page_answer(page, base_url(request), q, limit)
    return Response(body, media_type=JSON_TYPE, headers={"Link": links})


@requires(SCOPE_MANAGE)
async def create_server(request: Request) -> Response:
    spec = _spec(await json_body(request), "authorizationServer")
    server = await run_in_threadpool(key_service(request).create_server, spec)
    return OktaJSON(server_json(server, base_url(request)), status_code=201)


@requires(SCOPE_READ)
async def get_server(request: Request) -> Response:
    found = await snapshot(request)
    return Response(server_body(found, base_url(request)), media_type=JSON_TYPE)


@requires(SCOPE_MANAGE)
async def replace_server(request: Request) -> Response:
    spec = _spec(await json_body(request), "authorizationServer")
    server = await run_in_threadpool(key_service(request).replace_server, server_id(request), spec)
    return OktaJSON(server_json(server, base_url(request)))


@requires(SCOPE_MANAGE)
async def delete_server(request: Request) -> Response:
    await run_in_threadpool(key_service(request).delete_server, server_id(request))
    return Response(status_code=204)


@requires(SCOPE_MANAGE)
async def activate(request: Request) -> Response:
    await run_in_threadpool(
        key_service(request).set_status, server_id(request), ServerStatus.ACTIVE
    )
    return Response(status_code=204)


@requires(SCOPE_MANAGE)
async def deactivate(request: Request) -> Response:
    await run_in_threadpool(
        key_service(request).set_status, server_id(request), ServerStatus.INACTIVE
    )
    return Response(status_code=204)


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return MAX_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        raise ValidationFailed("limit", "limit must be a whole number from 1 to 200")
    return min(int(raw), MAX_LIMIT)


def _query(q: str | None, after: str | None, limit: int) -> dict[str, str]:
    query = {"q": q, "after": after, "limit": str(limit)}
    return {k: v for k, v in query.items() if v is not None}


def _spec(body: Any, what: str) -> ServerSpec:
    """Validate a server body; every problem is named in ``errorCauses``."""
    if not isinstance(body, dict):
        raise ValidationFailed(what, "The request body must be a JSON object.")
    causes = []
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        causes.append("name: The field cannot be left blank (at most 255 characters).")
    audiences = body.get("audiences")
    if (
        not isinstance(audiences, list)
        or not audiences
        or not all(isinstance(a, str) and a.strip() and len(a) <= 1024 for a in audiences)
    ):
        causes.append("audiences: Provide at least one audience (a non-empty string).")
    description = body.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str) or len(description) > 1024:
        causes.append("description: Must be a string of at most 1024 characters.")
    issuer_mode = _enum(IssuerMode, body.get("issuerMode", "ORG_URL"), "issuerMode", causes)
    mode = _rotation_mode(body, causes)
    if body.get("status") is not None:
        _enum(ServerStatus, body["status"], "status", causes)
    check_members(body, "AuthorizationServer", SERVER_MEMBERS, UNSUPPORTED, causes)
    if causes:
        raise ValidationFailed(what, *causes)
    return ServerSpec(
        name=str(name).strip(),
        audiences=tuple(str(a) for a in audiences or ()),
        description=str(description),
        issuer_mode=issuer_mode or IssuerMode.ORG_URL,
        rotation_mode=mode,
    )


def _rotation_mode(body: dict[str, Any], causes: list[str]) -> RotationMode | None:
    """``credentials.signing.rotationMode``; its read-only siblings are accepted as sent."""
    credentials = body.get("credentials") or {}
    signing = credentials.get("signing") if isinstance(credentials, dict) else None
    if not isinstance(credentials, dict) or not isinstance(signing, dict | None):
        causes.append("credentials.signing: Must be an object.")
        return None
    signing = signing or {}
    check_members(
        credentials, "AuthorizationServerCredentials", ("signing",), {}, causes, "credentials."
    )
    check_members(
        signing,
        "AuthorizationServerCredentialsSigningConfig",
        SIGNING_MEMBERS,
        {},
        causes,
        "credentials.signing.",
    )
    if signing.get("use") not in (None, "sig"):
        causes.append("credentials.signing.use: Must be sig.")
    raw = signing.get("rotationMode")
    return None if raw is None else _enum(RotationMode, raw, "rotationMode", causes)


E = TypeVar("E", IssuerMode, RotationMode, ServerStatus)


def _enum(kind: type[E], raw: Any, field: str, causes: list[str]) -> E | None:
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        causes.append(f"{field}: Must be one of {allowed}.")
        return None


routes = [
    Route(PREFIX, list_servers, methods=["GET"]),
    Route(PREFIX, create_server, methods=["POST"]),
    Route(PREFIX + "/{server_id}", get_server, methods=["GET"]),
    Route(PREFIX + "/{server_id}", replace_server, methods=["PUT"]),
    Route(PREFIX + "/{server_id}", delete_server, methods=["DELETE"]),
    Route(PREFIX + "/{server_id}/lifecycle/activate", activate, methods=["POST"]),
    Route(PREFIX + "/{server_id}/lifecycle/deactivate", deactivate, methods=["POST"]),
    Route(PREFIX + "/{server_id}/credentials/keys", list_keys, methods=["GET"]),
    Route(PREFIX + "/{server_id}/credentials/keys/{kid}", get_key, methods=["GET"]),
    Route(PREFIX + "/{server_id}/credentials/lifecycle/keyRotate", rotate_keys, methods=["POST"]),
]
