"""Okta's resource-server encryption keys of a server:
``/api/v1/authorizationServers/{authServerId}/resourceservercredentials/keys``."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.clock import iso
from keyrotor.encryption import KEY_TYPE, EncryptionKey, parse_key
from keyrotor.encryption_service import EncryptionService
from keyrotor.errors import NotFound
from keyrotor.http.auth import requires
from keyrotor.http.body import json_body
from keyrotor.http.render import OktaJSON, base_url, lifecycle_links, link
from keyrotor.http.state import actor, key_service, server_id, snapshot

PREFIX = "/api/v1/authorizationServers/{server_id}/resourceservercredentials/keys"


def encryption_key_json(key: EncryptionKey, base: str) -> dict[str, Any]:
    """Okta's ``OAuth2ResourceServerJsonWebKey``; the links say what its status allows."""
    server = f"{base}/api/v1/authorizationServers/{key.server_id}"
    href = f"{server}/resourceservercredentials/keys/{key.id}"
    links = {"self": link(href, "GET"), **lifecycle_links(href, key.is_active)}
    return {
        "id": key.id,
        "kid": key.kid,
        "kty": "RSA",
        "use": "enc",
        "e": key.e,
        "n": key.n,
        "status": key.status.value,
        "created": iso(key.created),
        "lastUpdated": iso(key.last_updated),
        "_links": links,
    }


def _service(request: Request) -> EncryptionService:
    return key_service(request).encryption


def _key_id(request: Request) -> str:
    return str(request.path_params["key_id"])


@requires(SCOPE_READ)
async def list_keys(request: Request) -> Response:
    found = await snapshot(request)
    base = base_url(request)
    return OktaJSON([encryption_key_json(k, base) for k in found.server.encryption_keys])


@requires(SCOPE_READ)
async def get_key(request: Request) -> Response:
    found, key_id = await snapshot(request), _key_id(request)
    key = next((k for k in found.server.encryption_keys if k.id == key_id), None)
    if key is None:
        raise NotFound(key_id, KEY_TYPE)
    return OktaJSON(encryption_key_json(key, base_url(request)))


@requires(SCOPE_MANAGE)
async def add_key(request: Request) -> Response:
    spec = parse_key(await json_body(request))
    made = await run_in_threadpool(
        _service(request).add_key, server_id(request), spec, actor(request)
    )
    return OktaJSON(encryption_key_json(made, base_url(request)), status_code=201)


@requires(SCOPE_MANAGE)
async def activate_key(request: Request) -> Response:
    key = await run_in_threadpool(
        _service(request).activate_key, server_id(request), _key_id(request), actor(request)
    )
    return OktaJSON(encryption_key_json(key, base_url(request)))


@requires(SCOPE_MANAGE)
async def deactivate_key(request: Request) -> Response:
    key = await run_in_threadpool(
        _service(request).deactivate_key, server_id(request), _key_id(request), actor(request)
    )
    return OktaJSON(encryption_key_json(key, base_url(request)))


@requires(SCOPE_MANAGE)
async def delete_key(request: Request) -> Response:
    await run_in_threadpool(
        _service(request).delete_key, server_id(request), _key_id(request), actor(request)
    )
    return Response(status_code=204)


routes = [
    Route(PREFIX, list_keys, methods=["GET"]),
    Route(PREFIX, add_key, methods=["POST"]),
    Route(PREFIX + "/{key_id}", get_key, methods=["GET"]),
    Route(PREFIX + "/{key_id}", delete_key, methods=["DELETE"]),
    Route(PREFIX + "/{key_id}/lifecycle/activate", activate_key, methods=["POST"]),
    Route(PREFIX + "/{key_id}/lifecycle/deactivate", deactivate_key, methods=["POST"]),
]
