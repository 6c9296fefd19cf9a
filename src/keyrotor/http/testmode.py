"""``keyrotor serve --test-mode``: a clock tests move, faults on the public endpoints, a reset.

Nothing here exists unless test mode is on: ``create_app(test_mode=True)`` sets
``App.testmode``, and ``App.__call__`` then hands each request to ``Controls.intercept``
after the edge and host checks, before the rate limits and the hot paths (``fast.py``), so
an injected fault wins over a cached answer. With test mode off these paths are unknown
ones: 404 like any other.

The routes (JSON in, JSON out, errors in Okta's format):

- ``GET /_test/clock``: the server's time, the real time and the offset between them.
- ``POST /_test/clock``: ``{"advance": "P90D"}`` (an ISO 8601 duration or seconds) or
  ``{"set": "2027-01-01T00:00:00Z"}``; the clock only moves forward. Caches are dropped
  and a sweep applies every step now due (NEXT key made, rotation), so the answer comes
  after them; retired keys leave the JWKS and tokens expire by the moved time.
- ``GET``/``POST``/``DELETE /_test/faults``: what the next matching requests of the JWKS
  (``/oauth2/{id}/v1/keys``, ``/oauth2/v1/keys``) or the token endpoints answer instead,
  for ``count`` requests, ``seconds``, or until deleted.
- ``POST /_test/baseline``: the store as it is now becomes what a reset restores (at
  start: the store as ``serve`` made it).
- ``POST /_test/reset``: the baseline back (``storage/baseline.py``), the clock back to
  real time, no faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from keyrotor.cache import EVERYTHING
from keyrotor.clock import OffsetClock, iso, system_clock
from keyrotor.errors import (
    KeyrotorError,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    UnsupportedMedia,
    ValidationFailed,
)
from keyrotor.http.body import json_body
from keyrotor.http.fast import okta_headers
from keyrotor.http.render import JSON_TYPE, OktaJSON, error_json, error_response
from keyrotor.servers import ORG_SERVER_ID
from keyrotor.service import KeyService
from keyrotor.snapshots import Snapshot
from keyrotor.storage import baseline

log = logging.getLogger("keyrotor")

PREFIX = "/_test"
BANNER = (
    "*** TEST MODE: the clock can be moved and faults injected (/_test/clock, "
    "/_test/faults, /_test/reset); loopback only, for tests, never for real keys ***"
)
ENDPOINTS = {
    "jwks": ("error", "rate_limit", "empty", "malformed", "missing_active", "slow"),
    "token": ("error", "rate_limit", "slow"),
}
MAX_DELAY = 60.0  # seconds a slow answer may be held back
_DURATION = TypeAdapter(timedelta)
_MOMENT = TypeAdapter(AwareDatetime)
_NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


@dataclass
class Fault:
    """What the matching requests answer instead, while it lasts."""

    id: str
    endpoint: str  # "jwks" or "token"
    kind: str
    server: str | None  # None: every server's
    status: int  # of "error"
    retry_after: int  # seconds, of "rate_limit"
    delay: float  # seconds, of "slow"
    remaining: int | None  # requests left; None: no count
    until: float | None  # time.monotonic() it ends; None: no duration
    hits: int = 0

    def live(self, now: float) -> bool:
        return (self.remaining is None or self.remaining > 0) and (
            self.until is None or now < self.until
        )

    def matches(self, endpoint: str, server_id: str) -> bool:
        return self.endpoint == endpoint and self.server in (None, server_id)

    def hit(self, times: int = 1) -> None:
        self.hits += times
        if self.remaining is not None:
            self.remaining -= times

    def as_json(self) -> dict[str, Any]:
        left = None if self.until is None else max(0.0, self.until - time.monotonic())
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "kind": self.kind,
            "server": self.server,
            "status": self.status,
            "retryAfter": self.retry_after,
            "delay": self.delay,
            "remaining": self.remaining,
            "secondsLeft": None if left is None else round(left, 3),
            "hits": self.hits,
        }


class Controls:
    """The controls of one test-mode app over ``service``, whose clock is an ``OffsetClock``."""

    def __init__(self, service: KeyService, public_rate_limit: int) -> None:
        if not isinstance(service.clock, OffsetClock):
            raise ValueError("test mode needs a service on an OffsetClock")
        self.service = service
        self.clock: OffsetClock = service.clock
        self.public_rate_limit = public_rate_limit
        self.faults: list[Fault] = []
        self._ids = itertools.count(1)
        self.baseline = baseline.capture(service.store)
        self.routes = Starlette(
            routes=[
                Route(f"{PREFIX}/clock", self.get_clock, methods=["GET"]),
                Route(f"{PREFIX}/clock", self.move_clock, methods=["POST"]),
                Route(f"{PREFIX}/faults", self.list_faults, methods=["GET"]),
                Route(f"{PREFIX}/faults", self.add_fault, methods=["POST"]),
                Route(f"{PREFIX}/faults", self.clear_faults, methods=["DELETE"]),
                Route(f"{PREFIX}/baseline", self.capture, methods=["POST"]),
                Route(f"{PREFIX}/reset", self.reset, methods=["POST"]),
            ],
            exception_handlers={KeyrotorError: _error, HTTPException: _error, Exception: _error},
        )

    # -- before anything else answers ----------------------------------------------------

    async def intercept(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer a test-mode route or an injected fault; ``False`` lets the app answer."""
        path: str = scope["path"]
        if path == PREFIX or path.startswith(PREFIX + "/"):
            await self._route(scope, receive, send)
            return True
        if not self.faults:
            return False
        target = _target(scope["method"], path)
        if target is None:
            return False
        fault = self._match(*target)
        if fault is None:
            return False
        fault.hit()  # before any await: concurrent requests count one each
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            return False
        answer = await self._answer(fault, target[1])
        if answer is None:  # an unknown or inactive server: its real answer, a 404
            fault.hit(-1)
            return False
        status, headers, body = answer
        headers += [(b"content-length", str(len(body)).encode()), *_NO_STORE, *okta_headers()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True

    def _match(self, endpoint: str, server_id: str) -> Fault | None:
        now = time.monotonic()
        self.faults = [f for f in self.faults if f.live(now)]
        return next((f for f in self.faults if f.matches(endpoint, server_id)), None)

    async def _answer(
        self, fault: Fault, server_id: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        json_type = [(b"content-type", JSON_TYPE.encode())]
        if fault.kind == "error":
            phrase = _phrase(fault.status)
            error = KeyrotorError(f"{phrase} (a fault injected by keyrotor's test mode)")
            return fault.status, json_type, _dump(error_json(error))
        if fault.kind == "rate_limit":
            reset = int(time.time()) + fault.retry_after
            limits = {
                "retry-after": str(fault.retry_after),
                "x-rate-limit-limit": str(self.public_rate_limit),
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(reset),
            }
            headers = json_type + [(k.encode(), v.encode()) for k, v in limits.items()]
            return 429, headers, _dump(error_json(RateLimited()))
        if fault.kind == "empty":
            return 200, json_type, b'{"keys":[]}'
        found = await self._snapshot(server_id)
        if found is None:
            return None
        if fault.kind == "malformed":  # cut off halfway, as a broken proxy would send it
            return 200, json_type, found.jwks_body[: len(found.jwks_body) // 2]
        keys = json.loads(found.jwks_body)["keys"]
        kept = [k for k in keys if k["kid"] != found.active.kid]
        return 200, json_type, _dump({"keys": kept})

    async def _snapshot(self, server_id: str) -> Snapshot | None:
        service = self.service
        found = service.peek(server_id)
        if found is None:
            try:
                found = await run_in_threadpool(service.snapshot, server_id)
            except NotFound:
                return None
        return found if found.server.is_active else None

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message["headers"], *okta_headers()]}
            await send(message)

        if not _json_or_none(scope):  # a form or text body: no web page can drive this
            await error_response(UnsupportedMedia())(scope, receive, with_headers)
            return
        try:
            await self.routes(scope, receive, with_headers)
        except Exception as exc:  # answered by ``_error`` already; Starlette raises it again
            log.debug("test-mode route failed: %s %s", scope["method"], scope["path"], exc_info=exc)
            if not started:
                await error_response(KeyrotorError())(scope, receive, with_headers)

    # -- the routes ----------------------------------------------------------------------

    def _clock_json(self) -> dict[str, Any]:
        return {
            "now": iso(self.clock()),
            "real": iso(system_clock()),
            "offsetSeconds": self.clock.offset.total_seconds(),
        }

    def _forget_cached(self) -> None:
        """Everything cached was valid until a moment of the old time: drop it all."""
        self.service.store.feed.publish([EVERYTHING])

    async def get_clock(self, request: Request) -> Response:
        return OktaJSON(self._clock_json())

    async def move_clock(self, request: Request) -> Response:
        body = await _body(request)
        if len(body) != 1 or next(iter(body)) not in ("advance", "set"):
            raise ValidationFailed(
                "clock", 'Send one of "advance" (an ISO 8601 duration or seconds) or "set".'
            )
        try:
            if "advance" in body:
                self.clock.advance(_duration(body["advance"]))
            else:
                self.clock.set(_moment(body["set"]))
        except ValueError as exc:
            raise ValidationFailed("clock", str(exc)) from None
        self._forget_cached()
        applied = await run_in_threadpool(self.service.sweep)
        log.info("test mode: clock at %s, %d due key change(s) applied", iso(self.clock()), applied)
        return OktaJSON({**self._clock_json(), "applied": applied})

    async def list_faults(self, request: Request) -> Response:
        now = time.monotonic()
        self.faults = [f for f in self.faults if f.live(now)]
        return OktaJSON({"faults": [f.as_json() for f in self.faults]})

    async def add_fault(self, request: Request) -> Response:
        fault = self._parse_fault(await _body(request))
        if fault.server is not None:  # a typo would make a fault that never fires
            try:
                await run_in_threadpool(self.service.get_server, fault.server)
            except NotFound:
                raise ValidationFailed("fault", f"server: No server {fault.server}.") from None
        self.faults.append(fault)
        return OktaJSON(fault.as_json(), status_code=201)

    async def clear_faults(self, request: Request) -> Response:
        self.faults = []
        return Response(status_code=204)

    async def capture(self, request: Request) -> Response:
        self.baseline = await run_in_threadpool(baseline.capture, self.service.store)
        return OktaJSON({"status": "captured"})

    async def reset(self, request: Request) -> Response:
        started = time.perf_counter()
        self.faults = []
        self.clock.reset()
        await run_in_threadpool(baseline.restore, self.service.store, self.baseline)
        self._forget_cached()
        seconds = time.perf_counter() - started
        log.info("test mode: store reset in %.1f ms", seconds * 1000)
        return OktaJSON({"status": "reset", "seconds": round(seconds, 4)})

    def _parse_fault(self, body: dict[str, Any]) -> Fault:
        causes: list[str] = []
        known = {"endpoint", "kind", "server", "status", "retryAfter", "delay", "count", "seconds"}
        causes += [f"{name}: Unknown member." for name in sorted(set(body) - known)]
        endpoint = body.get("endpoint", "jwks")
        kinds = ENDPOINTS.get(endpoint) if isinstance(endpoint, str) else None
        if kinds is None:
            causes.append('endpoint: Must be "jwks" or "token".')
            kinds = ()
        kind = body.get("kind", "error")
        if kinds and kind not in kinds:
            causes.append(f"kind: The {endpoint} endpoint takes one of {', '.join(kinds)}.")
        server = body.get("server")
        if server is not None and (not isinstance(server, str) or not server):
            causes.append("server: Must be a server id (or left out for every server).")
        status = _number(body, "status", 503, 500, 599, causes, whole=True)
        retry_after = _number(body, "retryAfter", 1, 0, 86400, causes, whole=True)
        delay = _number(body, "delay", 2.0, 0, MAX_DELAY, causes)
        count = _number(body, "count", None, 1, 1_000_000, causes, whole=True)
        seconds = _number(body, "seconds", None, 0.001, 86400, causes)
        if causes:
            raise ValidationFailed("fault", *causes)
        return Fault(
            id=str(next(self._ids)),
            endpoint=endpoint,
            kind=kind,
            server=server,
            status=int(status or 503),
            retry_after=int(retry_after or 0),
            delay=float(delay or 0),
            remaining=None if count is None else int(count),
            until=None if seconds is None else time.monotonic() + seconds,
        )


def _target(method: str, path: str) -> tuple[str, str] | None:
    """``(endpoint, server id)`` of a JWKS or token request; ``None`` for any other."""
    wanted = {"GET": "keys", "POST": "token"}.get(method)
    if wanted is None:
        return None
    endpoint = "jwks" if wanted == "keys" else "token"
    if path == f"/oauth2/v1/{wanted}":
        return endpoint, ORG_SERVER_ID
    parts = path.split("/")  # "", "oauth2", id, "v1", "keys" | "token"
    if len(parts) == 5 and parts[1] == "oauth2" and parts[3] == "v1" and parts[4] == wanted:
        return endpoint, parts[2]
    return None


def _json_or_none(scope: Scope) -> bool:
    """Whether the request's ``Content-Type``, if any, is JSON. A browser sends a form or
    text to another site without asking it first; JSON, never."""
    raw = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    media = raw.decode("latin-1").split(";")[0].strip().lower()
    return media in ("", "application/json")


async def _body(request: Request) -> dict[str, Any]:
    """A JSON object body, or ``{}`` for none."""
    body = await json_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValidationFailed("body", "The body must be a JSON object.")
    return body


def _duration(value: Any) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("advance: an ISO 8601 duration (P90D, PT1H) or a number of seconds")
    try:
        return _DURATION.validate_python(value)
    except ValidationError:
        raise ValueError(f"advance: {value!r} is not an ISO 8601 duration (P90D, PT1H)") from None


def _moment(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("set: an RFC 3339 time with its offset (2027-01-01T00:00:00Z)")
    try:
        return _MOMENT.validate_python(value)
    except ValidationError:
        raise ValueError(f"set: {value!r} is not a time with its offset (…T00:00:00Z)") from None


def _number(
    body: dict[str, Any],
    name: str,
    default: float | None,
    least: float,
    most: float,
    causes: list[str],
    *,
    whole: bool = False,
) -> float | None:
    value = body.get(name)
    if value is None:
        return default
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not least <= value <= most:
        kind = "A whole number" if whole else "A number"
        causes.append(f"{name}: {kind} from {_shown(least)} to {_shown(most)}.")
        return default
    return float(value)


def _shown(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def _phrase(status: int) -> str:
    with contextlib.suppress(ValueError):
        return http.HTTPStatus(status).phrase
    return "Server Error"


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def _error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, KeyrotorError):
        return error_response(exc)
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return error_response(MethodNotAllowed(), headers={"Allow": _allowed(request)})
    if isinstance(exc, HTTPException) and exc.status_code == 404:
        return error_response(NotFound(request.url.path, "Resource"))
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return error_response(KeyrotorError())


def _allowed(request: Request) -> str:
    methods = {
        m
        for route in request.app.routes
        if isinstance(route, Route) and route.path == request.url.path
        for m in route.methods or ()
    }
    return ", ".join(sorted(methods))
