"""The public reads without the router: JWKS and discovery answered from cached snapshots.

Resource servers fetch the JWKS and discovery documents far more than anything else. When
the server's snapshot is cached (``KeyService.peek``), ``FastReads`` answers those GETs
itself, with the bytes, ETag and headers the routed handlers would send, before Starlette
routes the request. Anything else, a cache miss included, goes on to the app unchanged, so
the routed handlers stay the one place that reads the store and reports errors.
"""

from __future__ import annotations

import secrets
import time
from email.utils import formatdate

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from keyrotor.apitokens import ALL_SCOPES
from keyrotor.http.body import accepts_json
from keyrotor.http.public import discovery_body, jwks_answer, metadata
from keyrotor.http.render import JSON_TYPE, base_url, render_json
from keyrotor.servers import ORG_SERVER_ID
from keyrotor.service import KeyService

_WELL_KNOWN = ("openid-configuration", "oauth-authorization-server")
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, raw headers, body


class HttpDate:
    """The ``Date`` header's value, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._value, self._second = formatdate(now, usegmt=True), now
        return self._value


http_date = HttpDate()


def okta_headers() -> list[tuple[bytes, bytes]]:
    """What every answer carries (``OktaHeaders`` adds the same to routed answers)."""
    return [
        (b"x-okta-request-id", secrets.token_urlsafe(18).encode()),
        (b"date", http_date().encode()),
    ]


class FastReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            answer = self._answer(scope)
            if answer is not None:
                status, headers, body = answer
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope) -> Answer | None:
        path = scope["path"]
        if path == "/oauth2/v1/keys":
            return self._jwks(scope, ORG_SERVER_ID)
        if path.startswith("/.well-known/") and path[13:] in _WELL_KNOWN:
            return self._org_discovery(scope)
        parts = path.split("/")  # "", "oauth2", id, "v1" | ".well-known", "keys" | name
        if len(parts) != 5 or parts[1] != "oauth2" or parts[2] in ("", "v1", ORG_SERVER_ID):
            return None
        if parts[3] == "v1" and parts[4] == "keys":
            return self._jwks(scope, parts[2])
        if parts[3] == ".well-known" and parts[4] in _WELL_KNOWN:
            return self._discovery(scope, parts[2])
        return None

    def _jwks(self, scope: Scope, server_id: str) -> Answer | None:
        service: KeyService = scope["app"].state.service
        found = service.peek(server_id)
        if found is None or not found.server.is_active or not _plain(scope):
            return None
        jwks = found.jwks(service.clock(), service.jwks_max_age)
        status, headers, body = jwks_answer(jwks, _header(scope, b"if-none-match"))
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        if status == 200:
            raw.append((b"content-length", str(len(body)).encode()))
        return status, raw + okta_headers(), body

    def _discovery(self, scope: Scope, server_id: str) -> Answer | None:
        service: KeyService = scope["app"].state.service
        found = service.peek(server_id)
        if found is None or not found.server.is_active or not _plain(scope):
            return None
        return _json(discovery_body(found, base_url(Request(scope))))

    def _org_discovery(self, scope: Scope) -> Answer | None:
        if not _plain(scope):
            return None
        base = base_url(Request(scope))
        body = render_json(metadata(base, f"{base}/oauth2", base, ALL_SCOPES))
        return _json(body)


def _json(body: bytes) -> Answer:
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", JSON_TYPE.encode()),
    ]
    return 200, headers + okta_headers(), body


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _plain(scope: Scope) -> bool:
    """No ``Accept`` that rules out JSON (the routed path refuses those in Okta's words)."""
    accept = _header(scope, b"accept")
    return not accept or accepts_json(Request(scope))
