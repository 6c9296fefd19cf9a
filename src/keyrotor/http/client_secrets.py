"""Okta's client secrets: ``/api/v1/apps/{appId}/credentials/secrets`` (the app id is the
client id): list, create, get, delete, activate, deactivate.

Reading needs ``okta.authorizationServers.read``, changing ``.manage``, as for the app's
grants. The value of a secret (``client_secret``) is in the answer to its creation and in
no other answer; later ones identify it by ``secret_hash``.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.client_secrets import ClientSecret, parse_request
from keyrotor.clock import iso
from keyrotor.http.auth import requires
from keyrotor.http.body import json_body
from keyrotor.http.render import OktaJSON, base_url, lifecycle_links
from keyrotor.http.state import actor, oauth_service

PREFIX = "/api/v1/apps/{app_id}/credentials/secrets"


def secret_json(secret: ClientSecret, base: str, value: str | None = None) -> dict[str, Any]:
    """Okta's ``OAuth2ClientSecret`` in Okta's order, with the links its status allows;
    ``value`` only in the answer to its creation."""
    href = f"{base}/api/v1/apps/{secret.client_id}/credentials/secrets/{secret.id}"
    body: dict[str, Any] = {"id": secret.id, "status": secret.status.value}
    if value is not None:
        body["client_secret"] = value
    body["secret_hash"] = secret.secret_hash
    body["created"] = iso(secret.created)
    body["lastUpdated"] = iso(secret.last_updated)
    body["_links"] = lifecycle_links(href, secret.active)
    return body


def _ids(request: Request) -> tuple[str, str]:
    params = request.path_params
    return str(params["app_id"]), str(params.get("secret_id", ""))


@requires(SCOPE_READ)
async def list_secrets(request: Request) -> Response:
    app_id, _ = _ids(request)
    found = await run_in_threadpool(oauth_service(request).secrets.list, app_id)
    return OktaJSON([secret_json(s, base_url(request)) for s in found])


@requires(SCOPE_MANAGE)
async def create_secret(request: Request) -> Response:
    app_id, _ = _ids(request)
    wanted = parse_request(await json_body(request))
    service = oauth_service(request).secrets
    made, value = await run_in_threadpool(service.create, app_id, wanted, actor(request))
    return OktaJSON(secret_json(made, base_url(request), value), status_code=201)


@requires(SCOPE_READ)
async def get_secret(request: Request) -> Response:
    found = await run_in_threadpool(oauth_service(request).secrets.get, *_ids(request))
    return OktaJSON(secret_json(found, base_url(request)))


@requires(SCOPE_MANAGE)
async def delete_secret(request: Request) -> Response:
    service = oauth_service(request).secrets
    await run_in_threadpool(service.delete, *_ids(request), actor(request))
    return Response(status_code=204)


@requires(SCOPE_MANAGE)
async def activate_secret(request: Request) -> Response:
    service = oauth_service(request).secrets
    done = await run_in_threadpool(service.activate, *_ids(request), actor(request))
    return OktaJSON(secret_json(done, base_url(request)))


@requires(SCOPE_MANAGE)
async def deactivate_secret(request: Request) -> Response:
    service = oauth_service(request).secrets
    done = await run_in_threadpool(service.deactivate, *_ids(request), actor(request))
    return OktaJSON(secret_json(done, base_url(request)))


routes = [
    Route(PREFIX, list_secrets, methods=["GET"]),
    Route(PREFIX, create_secret, methods=["POST"]),
    Route(PREFIX + "/{secret_id}", get_secret, methods=["GET"]),
    Route(PREFIX + "/{secret_id}", delete_secret, methods=["DELETE"]),
    Route(PREFIX + "/{secret_id}/lifecycle/activate", activate_secret, methods=["POST"]),
    Route(PREFIX + "/{secret_id}/lifecycle/deactivate", deactivate_secret, methods=["POST"]),
]
