"""Okta's Event Hooks API, ``/api/v1/eventHooks``: list, create, get, replace, delete, and
``lifecycle/activate``, ``lifecycle/deactivate``, ``lifecycle/verify``.

Okta's description of these operations is not in the spec subset keyrotor is built from;
they follow Okta's public Event Hooks API (``keyrotor.hooks`` has the shapes). Every route
needs ``okta.authorizationServers.manage``: a hook's headers are configuration an
administrator set, and its secret is never answered at all. Create answers 200, as Okta's
does; delete needs the hook INACTIVE first and answers 204.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.apitokens import SCOPE_MANAGE
from keyrotor.hook_service import HookService
from keyrotor.hooks import PREFIX, HookStatus, hook_json, parse_hook
from keyrotor.http.auth import requires
from keyrotor.http.body import json_body
from keyrotor.http.render import OktaJSON, base_url
from keyrotor.http.state import actor


def _hooks(request: Request) -> HookService:
    hooks: HookService = request.app.state.hooks
    return hooks


def _id(request: Request) -> str:
    return str(request.path_params["hook_id"])


@requires(SCOPE_MANAGE)
async def list_hooks(request: Request) -> Response:
    found = await run_in_threadpool(_hooks(request).list_hooks)
    base = base_url(request)
    return OktaJSON([hook_json(hook, base) for hook in found])


@requires(SCOPE_MANAGE)
async def create_hook(request: Request) -> Response:
    hooks = _hooks(request)
    spec = parse_hook(await json_body(request), hooks.subscribable())
    hook = await run_in_threadpool(hooks.create, spec, actor(request))
    return OktaJSON(hook_json(hook, base_url(request)))


@requires(SCOPE_MANAGE)
async def get_hook(request: Request) -> Response:
    hook = await run_in_threadpool(_hooks(request).get, _id(request))
    return OktaJSON(hook_json(hook, base_url(request)))


@requires(SCOPE_MANAGE)
async def replace_hook(request: Request) -> Response:
    hooks = _hooks(request)
    spec = parse_hook(await json_body(request), hooks.subscribable())
    hook = await run_in_threadpool(hooks.replace, _id(request), spec, actor(request))
    return OktaJSON(hook_json(hook, base_url(request)))


@requires(SCOPE_MANAGE)
async def delete_hook(request: Request) -> Response:
    await run_in_threadpool(_hooks(request).delete, _id(request), actor(request))
    return Response(status_code=204)


@requires(SCOPE_MANAGE)
async def activate(request: Request) -> Response:
    return await _status(request, HookStatus.ACTIVE)


@requires(SCOPE_MANAGE)
async def deactivate(request: Request) -> Response:
    return await _status(request, HookStatus.INACTIVE)


async def _status(request: Request, status: HookStatus) -> Response:
    hooks = _hooks(request)
    hook = await run_in_threadpool(hooks.set_status, _id(request), status, actor(request))
    return OktaJSON(hook_json(hook, base_url(request)))


@requires(SCOPE_MANAGE)
async def verify(request: Request) -> Response:
    """Asks the receiver (a few seconds at most, in a worker thread): an operator's call,
    never on a path tokens or keys are served from."""
    hook = await run_in_threadpool(_hooks(request).verify, _id(request), actor(request))
    return OktaJSON(hook_json(hook, base_url(request)))


routes = [
    Route(PREFIX, list_hooks, methods=["GET"]),
    Route(PREFIX, create_hook, methods=["POST"]),
    Route(PREFIX + "/{hook_id}", get_hook, methods=["GET"]),
    Route(PREFIX + "/{hook_id}", replace_hook, methods=["PUT"]),
    Route(PREFIX + "/{hook_id}", delete_hook, methods=["DELETE"]),
    Route(PREFIX + "/{hook_id}/lifecycle/activate", activate, methods=["POST"]),
    Route(PREFIX + "/{hook_id}/lifecycle/deactivate", deactivate, methods=["POST"]),
    Route(PREFIX + "/{hook_id}/lifecycle/verify", verify, methods=["POST"]),
]
