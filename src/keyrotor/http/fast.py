"""The hot public paths without the router: JWKS, discovery and tokens from the caches.

Resource servers fetch the JWKS and discovery documents, and clients ask for tokens, far
more than anything else. When all such a request needs is cached (``KeyService.peek``,
``OAuthService.issue_cached``), ``FastPaths`` answers it itself, with the bytes and
headers the routed handler would send, before Starlette routes the request. Anything else
(a cache miss, any error) goes on to the app unchanged, the body it read replayed, so the
routed handlers stay the one place that reads the store and reports errors.
"""

from __future__ import annotations

import secrets
import time
from email.utils import formatdate

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyrotor.apitokens import ALL_SCOPES
from keyrotor.http.body import accepts_json
from keyrotor.http.oauth import read_body, token_request
from keyrotor.http.public import discovery_body, jwks_answer, metadata
from keyrotor.http.render import JSON_TYPE, base_url_of, issuer, render_json
from keyrotor.servers import ORG_SERVER_ID
from keyrotor.service import KeyService

_WELL_KNOWN = ("openid-configuration", "oauth-authorization-server")
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, raw headers, body
_NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


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


class FastPaths:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = None
        if scope["type"] == "http":
            if scope["method"] == "GET":
                answer = self._answer(scope)
            elif scope["method"] == "POST" and scope["path"].endswith("/v1/token"):
                answer, receive = await self._token(scope, receive)
        if answer is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = answer
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _token(self, scope: Scope, receive: Receive) -> tuple[Answer | None, Receive]:
        """A token from the caches, or ``None`` and a ``receive`` that replays the body."""
        parts = scope["path"].split("/")  # "", "oauth2", [id,] "v1", "token"
        if parts[1] != "oauth2" or len(parts) not in (4, 5) or parts[-2] != "v1":
            return None, receive
        server_id = parts[2] if len(parts) == 5 else None
        body, complete = await read_body(receive)
        replay = _replay(body, complete, receive)
        if not complete or server_id in ("", "v1", ORG_SERVER_ID):
            return None, replay
        base = base_url_of(scope)
        asked = token_request(
            _header(scope, b"content-type"),
            _header(scope, b"authorization"),
            body,
            server_id,
            issuer(base, server_id) if server_id else base,
        )
        try:
            issued = scope["app"].state.oauth.issue_cached(asked)
        except Exception:  # errors are the routed handler's to report
            issued = None
        if issued is None:
            return None, replay
        status, headers, answer = _json(render_json(issued.response()))
        return (status, headers + _NO_STORE, answer), replay

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
        return _json(discovery_body(found, base_url_of(scope)))

    def _org_discovery(self, scope: Scope) -> Answer | None:
        if not _plain(scope):
            return None
        base = base_url_of(scope)
        body = render_json(metadata(base, f"{base}/oauth2", base, ALL_SCOPES))
        return _json(body)


def _json(body: bytes) -> Answer:
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", JSON_TYPE.encode()),
    ]
    return 200, headers + okta_headers(), body


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """``receive`` for the routed app: first what was read here, then the rest, if any."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": not complete}

    return replay


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _plain(scope: Scope) -> bool:
    """No ``Accept`` that rules out JSON (the routed path refuses those in Okta's words)."""
    accept = _header(scope, b"accept")
    return not accept or accepts_json(Request(scope))
