"""The hot public paths before any routing: JWKS, discovery and tokens from the caches.

Resource servers fetch the JWKS and discovery documents, and clients ask for tokens, far
more than anything else. When all such a request needs is cached (``KeyService.peek``,
``OAuthService.issue_cached``), ``FastPaths`` answers it itself, with the bytes and
headers the routed handler would send, before Starlette's middleware and router run
(``http/app.py``'s ``App``). Anything else (a cache miss, any error) goes on to the app
unchanged, the body it read replayed, so the routed handlers stay the one place that reads
the store and reports errors.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from datetime import datetime
from email.utils import formatdate

from starlette.datastructures import QueryParams
from starlette.types import Message, Receive, Scope, Send

from keyrotor.apitokens import ALL_SCOPES, SCOPE_READ, ApiToken
from keyrotor.clock import coarse
from keyrotor.errors import KeyrotorError
from keyrotor.http.admin import PREFIX, key_body, keys_body, list_query, page_answer, server_body
from keyrotor.http.auth import credentials
from keyrotor.http.body import accepts_json_value
from keyrotor.http.hosts import AllowedHosts
from keyrotor.http.oauth import read_body, token_request
from keyrotor.http.public import discovery_body, discovery_headers, jwks_answer, metadata
from keyrotor.http.ratelimit import RateLimiter, client_ip, token_quota
from keyrotor.http.render import JSON_TYPE, base_url_of, issuer, render_json
from keyrotor.oauth import OAuthService
from keyrotor.servers import ORG_SERVER_ID
from keyrotor.service import KeyService
from keyrotor.snapshots import Jwks, Snapshot

log = logging.getLogger("keyrotor")

_WELL_KNOWN = ("openid-configuration", "oauth-authorization-server")
_NOT_IDS = ("", "v1", ORG_SERVER_ID)
_NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
_NO_CACHE = [(b"cache-control", b"no-cache, no-store"), (b"pragma", b"no-cache")]
_JSON = (b"content-type", JSON_TYPE.encode())
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, raw headers, body


class HttpDate:
    """The ``Date`` header's value, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""
        self._header = (b"date", b"")

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._tick(now)
        return self._value

    def header(self) -> tuple[bytes, bytes]:
        """The ``Date`` header as ASGI wants it."""
        now = int(time.time())
        if now != self._second:
            self._tick(now)
        return self._header

    def _tick(self, now: int) -> None:
        self._value, self._second = formatdate(now, usegmt=True), now
        self._header = (b"date", self._value.encode())


http_date = HttpDate()


class RequestIds:
    """``X-Okta-Request-Id`` values: a random prefix per process and a counter, so unique
    across replicas and cheap (the id names a request in logs; it is no secret)."""

    def __init__(self) -> None:
        self._prefix = secrets.token_urlsafe(12)
        self._raw_prefix = self._prefix.encode()
        self._count = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count):08x}"

    def raw(self) -> bytes:
        """The next id, as bytes."""
        return b"%s%08x" % (self._raw_prefix, next(self._count))


request_id = RequestIds()


def okta_headers() -> list[tuple[bytes, bytes]]:
    """What every answer carries (``OktaHeaders`` adds the same to routed answers)."""
    return [(b"x-okta-request-id", request_id.raw()), http_date.header()]


_NO_STATE: dict[str, object] = {}
_BODY_HEADERS = (b"content-length", b"transfer-encoding")  # a GET with a body: the long way
MAX_ROUTES = 1024  # distinct paths (and Accept values) whose reading is remembered
_JWKS, _DISCOVERY, _ORG_DISCOVERY, _MANAGED = "jwks", "discovery", "org-discovery", "managed"
Route = tuple[str | None, str]  # what a path is to ``quick``, and the server id (or the rest)
_NOT_QUICK: Route = (None, "")


def _route(path: str) -> Route:
    """What a GET ``path`` is to the quick path (``None``: not one of its paths)."""
    if not path.isascii() or "\x00" in path or (path.endswith("/") and path != PREFIX + "/"):
        return _NOT_QUICK
    if path.startswith(PREFIX):
        rest = path[len(PREFIX) :]
        return (_MANAGED, "") if rest in ("", "/") else (_MANAGED, rest)
    if path == "/oauth2/v1/keys":
        return _JWKS, ORG_SERVER_ID
    if path.startswith("/.well-known/") and path[13:] in _WELL_KNOWN:
        return _ORG_DISCOVERY, ""
    parts = path.split("/")  # "", "oauth2", id, "v1" | ".well-known", "keys" | name
    if len(parts) != 5 or parts[1] != "oauth2" or parts[2] in _NOT_IDS:
        return _NOT_QUICK
    if parts[3] == "v1" and parts[4] == "keys":
        return _JWKS, parts[2]
    if parts[3] == ".well-known" and parts[4] in _WELL_KNOWN:
        return _DISCOVERY, parts[2]
    return _NOT_QUICK


STATUS = "keyrotor.status"  # the scope key of the status answered, for the meter


class FastPaths:
    def __init__(
        self,
        service: KeyService,
        oauth: OAuthService,
        limiter: RateLimiter,
        public_url: str | None,
    ) -> None:
        self.service = service
        self.oauth = oauth
        self.limiter = limiter
        self.token_limiter: RateLimiter | None = None  # per client, set by create_app
        self.public_url = public_url
        self.hosts: AllowedHosts | None = None  # the Host values answered, set by create_app
        self.public_limiter: RateLimiter | None = None  # per IP, set by create_app
        self.now = coarse(service.clock)
        self._routes: dict[str, Route] = {}
        self._accept: dict[bytes, bool] = {}
        self._queries: dict[bytes, tuple[str | None, int, str | None]] = {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """``None`` when answered here; else the ``receive`` the app should read from."""
        answer: Answer | None = None
        try:
            if scope["method"] == "POST" and scope["path"].endswith("/v1/token"):
                answer, receive = await self._token(scope, receive)
        except Exception as exc:  # a bug here must not cost the request: the app answers it
            # one line, not a traceback per request (that would be a way to flood the logs)
            log.warning("fast path failed on %s %s: %r", scope["method"], scope["path"], exc)
            log.debug("fast path failure", exc_info=exc)
            answer = None
        if answer is None:
            return receive
        status, headers, body = answer
        quota = scope.get("state", _NO_STATE).get("quota")  # the caller's rate limit
        if quota is not None:
            headers = [*headers, *quota.raw_headers()]
        scope[STATUS] = status  # for the meter
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return None

    def quick(self, scope: Scope) -> Answer | None:
        """A GET of a hot path (JWKS, discovery, management reads) answered whole from the
        caches, with one pass over the headers and nothing awaited; ``None`` when anything
        is missing or unusual: the app then answers (and refuses) it the long way.

        It lets in only what ``edge.py``, ``AllowedHosts`` and ``AcceptJSON`` would let in:
        an ASCII path without NUL, no NUL in the query or any header, no body, a known
        ``Host``, an ``Accept`` that allows JSON. A public answer counts against the
        caller's per-IP quota; over it, the quota is left in the scope for the app's 429.
        """
        path: str = scope["path"]
        route = self._routes.get(path)
        if route is None:
            route = _route(path)
            if len(self._routes) < MAX_ROUTES:
                self._routes[path] = route
        kind, name = route
        if kind is None:
            return None
        query: bytes = scope["query_string"]
        if query and (kind is not _MANAGED or b"\x00" in query or b"%00" in query):
            return None
        host = accept = condition = authorization = None
        for header, value in scope["headers"]:
            if b"\x00" in value or b"\x00" in header:
                return None
            if header == b"host":
                if host is not None:
                    return None
                host = value
            elif header == b"accept":
                accept = value
            elif header == b"if-none-match":
                condition = value
            elif header == b"authorization":
                authorization = value
            elif header in _BODY_HEADERS:
                return None
        if host is None or (self.hosts is not None and not self.hosts.allows_host(host)):
            return None
        if accept is not None and not self._accepts(accept):
            return None
        if kind is _JWKS:
            answer = self._jwks(name, condition)
        else:
            base = base_url_of(scope, self.public_url, host)
            if kind is _MANAGED:
                return self._managed(scope, name, authorization, base)
            if kind is _DISCOVERY:
                answer = self._discovery(name, base)
            else:
                answer = self._org_discovery(base)
        if answer is None or self.public_limiter is None:
            return answer
        quota = self.public_limiter.hit("ip:" + client_ip(scope))
        if quota.exceeded:
            scope.setdefault("state", {})["quota"] = quota
            return None
        status, headers, body = answer
        return status, headers + quota.raw_headers(), body

    def _accepts(self, accept: bytes) -> bool:
        """``accepts_json``'s verdict on one ``Accept`` value, worked out once per value."""
        found = self._accept.get(accept)
        if found is None:
            found = accepts_json_value(accept.decode("latin-1"))
            if len(self._accept) < MAX_ROUTES:
                self._accept[accept] = found
        return found

    def _managed(
        self, scope: Scope, rest: str, authorization: bytes | None, base: str
    ) -> Answer | None:
        """Reads of the management API by a cached API token with the read scope; the rate
        limit is counted here (and, when exceeded, left for the routed handler to answer)."""
        caller = self._caller(authorization)
        if caller is None:
            return None
        extra: list[tuple[bytes, bytes]] = []
        body: bytes | None
        if rest == "":
            query = self._list_query(scope["query_string"])
            if query is None:
                return None
            q, limit, after = query
            page = self.service.peek_page(q, limit, after, self.now())
            if page is None:
                return None
            body, links = page_answer(page, base, q, limit)
            extra.append((b"link", links.encode()))
        else:
            body = self._server_read(rest.split("/"), base)
        if body is None:
            return None
        quota = self.limiter.hit(caller.id)
        if quota.exceeded:
            scope.setdefault("state", {})["quota"] = quota
            return None
        length = (b"content-length", b"%d" % len(body))
        return 200, [length, _JSON, *_NO_CACHE, *okta_headers(), *quota.raw_headers(), *extra], body

    def _list_query(self, raw: bytes) -> tuple[str | None, int, str | None] | None:
        """``list_query`` of a query string, worked out once per distinct string; ``None``
        for a bad one (the routed handler answers it in Okta's words)."""
        found = self._queries.get(raw)
        if found is None:
            try:
                found = list_query(QueryParams(raw))
            except KeyrotorError:
                return None
            if len(self._queries) < 256:
                self._queries[raw] = found
        return found

    def _server_read(self, parts: list[str], base: str) -> bytes | None:
        """``/{id}``, ``/{id}/credentials/keys`` or ``…/keys/{kid}``, if cached."""
        if len(parts) < 2 or parts[1] in ("", ORG_SERVER_ID):
            return None
        found = self.service.peek(parts[1], self.now())
        if found is None:
            return None
        if len(parts) == 2:
            return server_body(found, base)
        if len(parts) in (4, 5) and parts[2] == "credentials" and parts[3] == "keys":
            return keys_body(found, base) if len(parts) == 4 else key_body(found, base, parts[4])
        return None

    def _caller(self, authorization: bytes | None) -> ApiToken | None:
        if authorization is None:
            return None
        found = credentials(authorization.decode("latin-1"))
        if found is None or found[0] != "SSWS":
            return None
        token = self.service.cached_token(found[1], self.now())
        return token if token is not None and token.allows(SCOPE_READ) else None

    def _published(self, server_id: str, now: datetime) -> Snapshot | None:
        found = self.service.peek(server_id, now)
        if found is None or not found.server.is_active:
            return None
        return found

    def _jwks(self, server_id: str, condition: bytes | None) -> Answer | None:
        now = self.now()
        found = self._published(server_id, now)
        if found is None:
            return None
        max_age = found.max_age(now, self.service.jwks_max_age)
        if condition:
            jwks = Jwks(found.jwks_body, found.jwks_etag, max_age)
            status, raw, body = _raw(*jwks_answer(jwks, condition.decode("latin-1")))
        else:  # the unconditional answer, rendered once per snapshot and max-age
            key = ("jwks", max_age)
            rendered = found.memo.get(key)
            if not isinstance(rendered, tuple):
                jwks = Jwks(found.jwks_body, found.jwks_etag, max_age)
                rendered = found.memo[key] = _raw(*jwks_answer(jwks, ""))
            status, raw, body = rendered
        return status, raw + okta_headers(), body

    def _discovery(self, server_id: str, base: str) -> Answer | None:
        """The cached document (``quick`` leaves any query, a ``client_id`` to check, to
        the routed handler)."""
        now = self.now()
        found = self._published(server_id, now)
        if found is None:
            return None
        max_age = found.max_age(now, self.service.jwks_max_age)
        key = ("discovery-answer", base, max_age)
        answer = found.memo.get(key)
        if not isinstance(answer, tuple):
            cache = discovery_headers(max_age, self.public_url)
            answer = found.memo[key] = _json(discovery_body(found, base), okta=False, extra=cache)
        status, headers, body = answer
        return status, headers + okta_headers(), body

    def _org_discovery(self, base: str) -> Answer | None:
        cache = discovery_headers(self.service.jwks_max_age, self.public_url)
        return _json(render_json(metadata(base, f"{base}/oauth2", base, ALL_SCOPES)), extra=cache)

    async def _token(self, scope: Scope, receive: Receive) -> tuple[Answer | None, Receive]:
        """A token from the caches, or ``None`` and a ``receive`` that replays the body."""
        parts = scope["path"].split("/")  # "", "oauth2", [id,] "v1", "token"
        if parts[1] != "oauth2" or len(parts) not in (4, 5) or parts[-2] != "v1":
            return None, receive
        server_id = parts[2] if len(parts) == 5 else None
        body, complete = await read_body(receive)
        replay = _replay(body, complete, receive)
        if not complete or server_id in _NOT_IDS:
            return None, replay
        base = base_url_of(scope, self.public_url)
        asked = token_request(
            _header(scope, b"content-type"),
            _header(scope, b"authorization"),
            body,
            server_id,
            issuer(base, server_id) if server_id else base,
            _header(scope, b"dpop") or None,
        )
        if self.token_limiter is not None and token_quota(self.token_limiter, scope, asked):
            return None, replay  # the routed handler answers the 429
        try:
            issued = self.oauth.issue_cached(asked)
        except Exception:  # errors are the routed handler's to report
            issued = None
        if issued is None:
            return None, replay
        status, headers, answer = _json(render_json(issued.response()))
        return (status, headers + _NO_STORE, answer), replay


def _raw(status: int, headers: dict[str, str], body: bytes) -> Answer:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if status != 304:
        raw.append((b"content-length", str(len(body)).encode()))
    return status, raw, body


def _json(body: bytes, *, okta: bool = True, extra: dict[str, str] | None = None) -> Answer:
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", JSON_TYPE.encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
    return 200, headers + okta_headers() if okta else headers, body


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
