"""Who is calling: ``Authorization: SSWS <token>`` (also ``SSWS<token>``, as Okta's Python
SDK 3.4.6 sends it), ``Bearer <access token>`` or ``DPoP <access token>`` (with its proof
in the ``DPoP`` header); then the rate limit and the scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from keyrotor.bearer import DpopRequest
from keyrotor.errors import InvalidToken, PermissionDenied, RateLimited, StoreUnavailable
from keyrotor.http.ratelimit import Quota
from keyrotor.http.render import base_url


class Principal(Protocol):
    """An authenticated caller: an API token or an access token of the org server."""

    @property
    def id(self) -> str: ...

    def allows(self, scope: str) -> bool: ...


BearerVerifier = Callable[[str, DpopRequest | None], Principal | None]
Handler = Callable[[Request], Awaitable[Response]]


def credentials(header: str) -> tuple[str, str] | None:
    """``("SSWS", token)``, ``("Bearer", token)`` or ``("DPoP", token)`` from an
    Authorization header."""
    header = header.strip()
    if header[:4].upper() == "SSWS":
        return "SSWS", header[4:].strip()
    scheme, _, value = header.partition(" ")
    for known in ("Bearer", "DPoP"):
        if scheme.lower() == known.lower() and value.strip():
            return known, value.strip()
    return None


def _principal(request: Request) -> Principal | None:
    found = credentials(request.headers.get("authorization", ""))
    if found is None or not found[1]:
        return None
    scheme, value = found
    if scheme == "SSWS":
        principal: Principal | None = request.app.state.service.authenticate(value)
        return principal
    verify: BearerVerifier | None = request.app.state.bearer_verifier
    if verify is None:
        return None
    if scheme == "Bearer":
        return verify(value, None)
    proof = request.headers.get("dpop", "")
    url = base_url(request) + request.url.path
    return verify(value, DpopRequest(proof, request.method, url)) if proof else None


def _cached(request: Request) -> Principal | None:
    """An API token known to the cache, without leaving the event loop."""
    found = credentials(request.headers.get("authorization", ""))
    if found is None or found[0] != "SSWS":
        return None
    principal: Principal | None = request.app.state.service.cached_token(found[1])
    return principal


def _client(request: Request) -> str:
    return "ip:" + (request.client.host if request.client else "unknown")


def requires(scope: str) -> Callable[[Handler], Handler]:
    """Authenticate, count against the caller's rate limit, then check the scope."""

    def wrap(handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            try:
                principal = _cached(request) or await run_in_threadpool(_principal, request)
            except StoreUnavailable:
                request.state.quota = request.app.state.limiter.hit(_client(request))
                raise
            counted: Quota | None = getattr(request.state, "quota", None)  # by fast.py
            quota = counted or request.app.state.limiter.hit(
                principal.id if principal else _client(request)
            )
            request.state.quota = quota
            if quota.exceeded:
                raise RateLimited()
            if principal is None:
                raise InvalidToken()
            if not principal.allows(scope):
                raise PermissionDenied()
            request.state.principal = principal
            return await handler(request)

        guarded.__name__ = handler.__name__
        guarded.__doc__ = handler.__doc__
        return guarded

    return wrap
