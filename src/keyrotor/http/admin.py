"""Okta's management API: authorization servers and their credential keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.errors import NotFound, ValidationFailed
from keyrotor.http.auth import requires
from keyrotor.http.body import ascii_int, json_body
from keyrotor.http.render import (
    JSON_TYPE,
    OktaJSON,
    base_url,
    key_json,
    memo_json,
    render_json,
    server_json,
)
from keyrotor.http.state import actor, key_service, server_id, snapshot
from keyrotor.servers import ServerStatus, parse_server
from keyrotor.service import KEY_TYPE, Page
from keyrotor.snapshots import Snapshot

MAX_LIMIT = 200
PREFIX = "/api/v1/authorizationServers"


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
    keys = await run_in_threadpool(key_service(request).rotate, server_id(request), actor(request))
    return _keys(request, keys)


@requires(SCOPE_MANAGE)
async def revoke_key(request: Request) -> Response:
    """keyrotor's extension: revoke one key at once (``KeyService.revoke_key``); answers
    the key, ``REVOKED``. No body is read (as Okta's other lifecycle operations)."""
    kid = str(request.path_params["kid"])
    key = await run_in_threadpool(
        key_service(request).revoke_key, server_id(request), kid, actor(request)
    )
    return OktaJSON(key_json(key, base_url(request), server_id(request)))


@requires(SCOPE_READ)
async def list_servers(request: Request) -> Response:
    q, limit, after = list_query(request.query_params)
    page = await run_in_threadpool(key_service(request).list_servers, q, limit, after)
    body, links = page_answer(page, base_url(request), q, limit)
    return Response(body, media_type=JSON_TYPE, headers={"Link": links})


@requires(SCOPE_MANAGE)
async def create_server(request: Request) -> Response:
    spec = parse_server(await json_body(request))
    server = await run_in_threadpool(key_service(request).create_server, spec, actor(request))
    return OktaJSON(server_json(server, base_url(request)), status_code=201)


@requires(SCOPE_READ)
async def get_server(request: Request) -> Response:
    found = await snapshot(request)
    return Response(server_body(found, base_url(request)), media_type=JSON_TYPE)


@requires(SCOPE_MANAGE)
async def replace_server(request: Request) -> Response:
    spec = parse_server(await json_body(request))
    server = await run_in_threadpool(
        key_service(request).replace_server, server_id(request), spec, actor(request)
    )
    return OktaJSON(server_json(server, base_url(request)))


@requires(SCOPE_MANAGE)
async def delete_server(request: Request) -> Response:
    await run_in_threadpool(key_service(request).delete_server, server_id(request), actor(request))
    return Response(status_code=204)


@requires(SCOPE_MANAGE)
async def activate(request: Request) -> Response:
    await run_in_threadpool(
        key_service(request).set_status, server_id(request), ServerStatus.ACTIVE, actor(request)
    )
    return Response(status_code=204)


@requires(SCOPE_MANAGE)
async def deactivate(request: Request) -> Response:
    await run_in_threadpool(
        key_service(request).set_status, server_id(request), ServerStatus.INACTIVE, actor(request)
    )
    return Response(status_code=204)


def _limit(raw: str | None) -> int:
    if raw is None:
        return MAX_LIMIT
    limit = ascii_int(raw)  # ASCII digits only: '²' passes str.isdigit() but not int()
    if limit is None or not 1 <= limit <= 10_000:
        raise ValidationFailed("limit", "limit must be a whole number from 1 to 200")
    return min(limit, MAX_LIMIT)


def _query(q: str | None, after: str | None, limit: int) -> dict[str, str]:
    query = {"q": q, "after": after, "limit": str(limit)}
    return {k: v for k, v in query.items() if v is not None}


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
    Route(
        PREFIX + "/{server_id}/credentials/keys/{kid}/lifecycle/revoke",
        revoke_key,
        methods=["POST"],
    ),
    Route(PREFIX + "/{server_id}/credentials/lifecycle/keyRotate", rotate_keys, methods=["POST"]),
]
