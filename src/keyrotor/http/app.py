"""The ASGI application: routes, Okta's headers and error mapping, the AUTO-rotation sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyrotor.bearer import OrgTokenVerifier
from keyrotor.config import Settings
from keyrotor.crypto import KeyNotOpened
from keyrotor.errors import (
    KeyrotorError,
    MethodNotAllowed,
    NotFound,
    OAuthError,
    RateLimited,
    StoreUnavailable,
    UnknownHost,
    UnsupportedMedia,
)
from keyrotor.hook_service import HookOptions, HookService
from keyrotor.hook_worker import HookWorker
from keyrotor.hooks import RetryPolicy
from keyrotor.http import admin, apitokens, clients, grants, logs, oauth, openapi, public, scopes
from keyrotor.http import client_jwks as client_jwks_http
from keyrotor.http import client_secrets as client_secrets_http
from keyrotor.http import encryption as encryption_http
from keyrotor.http import hooks as hooks_http
from keyrotor.http.auth import BearerVerifier
from keyrotor.http.body import accepts_json
from keyrotor.http.console import Console, is_console_path
from keyrotor.http.edge import refusal
from keyrotor.http.fast import STATUS, Answer, FastPaths, http_date
from keyrotor.http.fast import request_id as next_request_id
from keyrotor.http.hosts import PROBES, AllowedHosts
from keyrotor.http.metrics import OPEN as METRICS_OPEN
from keyrotor.http.metrics import PATH as METRICS_PATH
from keyrotor.http.metrics import Exporter, MetricsOptions
from keyrotor.http.metrics import routes as metrics_routes
from keyrotor.http.ratelimit import Quota, RateLimiter, client_ip
from keyrotor.http.render import OktaJSON, error_response
from keyrotor.http.state import key_service
from keyrotor.keks import ActiveKeys
from keyrotor.keypool import KeyPool
from keyrotor.metrics import HttpMeter, RouteTemplates
from keyrotor.oauth import OAuthService
from keyrotor.service import KeyService

if TYPE_CHECKING:
    from keyrotor.http.testmode import Controls

log = logging.getLogger("keyrotor")


class OktaHeaders:
    """Every response: ``X-Okta-Request-Id`` and ``Date``; on the management API also
    ``Cache-Control: no-cache, no-store`` and the caller's ``X-Rate-Limit-*``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = next_request_id()
        management = scope["path"].startswith("/api/")
        scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                extra = {"X-Okta-Request-Id": request_id, "Date": http_date()}
                if management:
                    extra["Cache-Control"] = "no-cache, no-store"
                    extra["Pragma"] = "no-cache"
                    quota = scope["state"].get("quota") or _peek(scope)
                    extra.update(quota.headers())
                names = {k.lower().encode() for k in extra}
                headers = [(k, v) for k, v in headers if k.lower() not in names]
                headers += [(k.encode(), v.encode()) for k, v in extra.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class App(Starlette):
    """Starlette, with what ``edge.py`` refuses and the hot paths (``fast.py``) answered
    before any middleware runs. ``OktaHeaders`` wraps the whole routed app, Starlette's
    own 500 handler included, so every answer carries Okta's headers.

    A request for a host this server does not answer for is refused first (``hosts.py``).
    A trailing slash is dropped before routing (``/api/v1/authorizationServers/`` is the
    list) rather than redirected: a redirect would point at the caller's ``Host``.
    """

    fast: FastPaths | None = None
    hosts: AllowedHosts | None = None
    testmode: Controls | None = None  # serve --test-mode only (http/testmode.py)
    console: Console | None = None  # the web console's files (http/console.py), unless off
    public_limiter: RateLimiter | None = None  # per IP, what needs no credentials
    meter: HttpMeter | None = None  # requests and latency for /metrics, unless off
    quick: Callable[[Scope], Answer | None] | None = None  # FastPaths.quick, unless test mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        meter = self.meter
        quick = self.quick
        if quick is not None and scope["type"] == "http" and scope["method"] == "GET":
            started = perf_counter()
            try:
                answer = quick(scope)
            except Exception as exc:  # a bug here must not cost the request: the app answers
                log.warning("fast path failed on GET %s: %r", scope["path"], exc)
                log.debug("fast path failure", exc_info=exc)
                answer = None
            if answer is not None:  # the hot reads: no wrapper, no middleware, no routing
                status, headers, body = answer
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                if meter is not None:
                    meter.observe("GET", scope["path"], status, perf_counter() - started)
                return
        if meter is None or scope["type"] != "http":
            await self._answer(scope, receive, send)
            return
        started = perf_counter()
        try:
            await self._answer(scope, receive, send)
        finally:  # every answer, the hot paths' too; no status sent: the server's 500
            status = scope.get(STATUS, 0)
            meter.observe(scope["method"], scope["path"], status, perf_counter() - started)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if len(scope["path"]) > 1 and scope["path"].endswith("/"):
            scope["path"] = scope["path"].rstrip("/") or "/"
        refused = refusal(scope)
        if refused is None and self.hosts is not None and not self.hosts.allows(scope):
            refused = error_response(UnknownHost())
        # serve --test-mode: its own routes and injected faults, before limits and hot paths
        testmode = self.testmode
        if refused is None and testmode and await testmode.intercept(scope, receive, send):
            return
        counted = False
        if refused is None and self.public_limiter is not None and _public(scope):
            state = scope.setdefault("state", {})
            quota = state.get("quota") or self.public_limiter.hit("ip:" + client_ip(scope))
            state["quota"] = quota  # already there if ``quick`` counted it, over the limit
            counted = True
            if quota.exceeded:  # its X-Rate-Limit-* and Retry-After: added by _quoted
                refused = error_response(RateLimited())
        if refused is None and self.fast is not None:
            found = await self.fast.handle(scope, receive, send)  # adds the quota itself
            if found is None:
                return
            receive = found
        if counted:
            send = _quoted(scope, send)
        if self.meter is not None:
            send = _status_kept(scope, send)
        if refused is None and self.console is not None and is_console_path(scope["path"]):
            await OktaHeaders(self.console)(scope, receive, send)  # public files, not routes
            return
        scope["app"] = self
        await OktaHeaders(refused or self._routed)(scope, receive, send)

    async def _routed(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await super().__call__(scope, receive, tracked)
        except Exception as exc:
            # Starlette answered it (``_unexpected`` logged one line) and raises it again
            # for the server to log: a traceback per bad request would flood the logs
            log.debug("unexpected error on %s %s", scope["method"], scope["path"], exc_info=exc)
            if not started:
                await error_response(KeyrotorError())(scope, receive, send)


def _public(scope: Scope) -> bool:
    """Asked without credentials: everything but the management API and the probes."""
    path: str = scope["path"]
    return not path.startswith("/api/") and path not in PROBES


def _status_kept(scope: Scope, send: Send) -> Send:
    """``send``, noting the answer's status in the scope for the meter (the hot paths note
    it themselves, without this wrapper)."""

    def kept(message: Message) -> Awaitable[None]:  # no coroutine of its own
        if message["type"] == "http.response.start":
            scope[STATUS] = message["status"]
        return send(message)

    return kept


def _quoted(scope: Scope, send: Send) -> Send:
    """``send``, adding the caller's ``X-Rate-Limit-*`` (the last quota counted: a token
    request's is its client's) to the answer."""

    async def quoted(message: Message) -> None:
        if message["type"] == "http.response.start":
            quota: Quota | None = scope["state"].get("quota")
            if quota is not None:  # the answers here never carry these headers themselves
                message = {**message, "headers": [*message["headers"], *quota.raw_headers()]}
        await send(message)

    return quoted


def _peek(scope: Scope) -> Quota:
    """The caller's quota for an answer no guarded route gave (an unknown path, say)."""
    client = scope.get("client")
    limiter: RateLimiter = scope["app"].state.limiter
    return limiter.peek("ip:" + (client[0] if client else "unknown"))


async def _okta_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KeyrotorError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(MethodNotAllowed(), headers={"Allow": _allowed(request)})
    if exc.status_code == 404:
        return error_response(NotFound(request.url.path, "Resource"))
    return error_response(KeyrotorError(exc.detail))


def _allowed(request: Request) -> str:
    """``Allow`` of a 405: the methods of every route of the path (Starlette names only
    those of the first route that matched, and each method here is a route of its own)."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": "GET"})
            if match != Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return error_response(KeyrotorError())


async def healthz(request: Request) -> Response:
    """Liveness: the process answers (and says so when in test mode)."""
    if request.app.testmode is not None:
        return OktaJSON({"status": "ok", "testMode": True})
    return OktaJSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the store answers and this replica's KEKs open every ACTIVE key (a load
    balancer takes the replica out otherwise)."""
    service = key_service(request)
    active_keys: ActiveKeys = request.app.state.active_keys
    try:
        await run_in_threadpool(service.store.check)
        unopened = await run_in_threadpool(active_keys.unopened)
    except StoreUnavailable as exc:
        return error_response(exc)
    if unopened:
        return error_response(KeyNotOpened(unopened[0]))
    return OktaJSON({"status": "ready"})


class AcceptJSON:
    """Refuse, in Okta's words, a request whose ``Accept`` rules out JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] != METRICS_PATH  # Prometheus's formats, whatever Accept says
            and not accepts_json(Request(scope))
        ):
            await error_response(UnsupportedMedia())(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(
    service: KeyService,
    settings: Settings,
    *,
    bearer_verifier: BearerVerifier | None = None,
    sweep: bool = True,
    extra_routes: list[Any] | None = None,
    test_mode: bool = False,
    with_console: bool = True,
    metrics: MetricsOptions | None = METRICS_OPEN,
) -> Starlette:
    """The app over an opened service. ``sweep`` runs the background AUTO-rotation sweeper;
    ``test_mode`` adds the clock, fault and reset controls (the service's clock must be an
    ``OffsetClock``); ``with_console`` serves the web console at ``/console``; ``metrics``
    serves ``/metrics`` (``None``: no metrics, nothing counted)."""

    pool = KeyPool(service.store, service.factory, settings.key_pool_size, service.clock)
    # event hooks (keyrotor.hooks): loopback receivers only in test mode
    retry = RetryPolicy(base=settings.hook_retry_base, max_attempts=settings.hook_max_attempts)
    options = HookOptions(loopback_ok=test_mode, retry=retry)
    hooks = HookService(service.store, service.factory.sealer, service.clock, options)
    hook_worker = HookWorker(hooks, logs.log_event_json, (settings.public_url or "").rstrip("/"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.store.watch()  # hear other replicas' changes: caches are trusted from here on
        await run_in_threadpool(service.ensure_default)
        pool.start()
        if sweep:  # event hooks' deliveries: beside the sweeper, never on a request
            hook_worker.start()
        if exporter is not None and exporter.shared is not None:  # serve --workers
            exporter.shared.start()
        # what startup made lives as long as the process: keep the cyclic garbage collector
        # from scanning it again and again under load (a full pass over it takes ~60 ms)
        gc.collect()
        gc.freeze()
        task = asyncio.create_task(_sweeper(service, settings.sweep_interval)) if sweep else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await run_in_threadpool(pool.stop)
            await run_in_threadpool(hook_worker.stop)
            if exporter is not None and exporter.shared is not None:
                await run_in_threadpool(exporter.shared.stop)
            try:  # API tokens' last uses noted since the last sweep
                await run_in_threadpool(service.api_tokens.flush_uses)
            except StoreUnavailable:
                log.warning("API tokens' last uses not written: the store is unavailable")
            service.store.close()

    routes = [
        *admin.routes,
        *public.routes,
        *oauth.routes,
        *clients.routes,
        *grants.routes,
        *client_jwks_http.routes,
        *client_secrets_http.routes,
        *apitokens.routes,
        *scopes.routes,
        *encryption_http.routes,
        *logs.routes,
        *hooks_http.routes,
        *(extra_routes or []),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *openapi.routes,
        *(metrics_routes if metrics is not None else []),
    ]
    app = App(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            OAuthError: oauth.oauth_error,
            KeyrotorError: _okta_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.service = service
    app.state.active_keys = ActiveKeys(service.store, service.factory)  # for /readyz
    app.state.limiter = RateLimiter(settings.rate_limit)
    app.state.hooks = hooks
    app.state.public_url = settings.public_url
    app.state.oauth = OAuthService(service, settings.token_lifetime, settings.clock_skew)
    # Bearer tokens: the org server's access tokens, unless the caller brings a verifier
    app.state.bearer_verifier = bearer_verifier or OrgTokenVerifier(
        app.state.oauth, settings.public_url
    )
    app.fast = FastPaths(service, app.state.oauth, app.state.limiter, settings.public_url)
    app.hosts = AllowedHosts(settings.public_url, settings.allowed_hosts)
    app.public_limiter = app.fast.public_limiter = RateLimiter(settings.public_rate_limit)
    app.fast.hosts = app.hosts
    app.state.token_limiter = app.fast.token_limiter = RateLimiter(settings.token_rate_limit)
    if test_mode:
        from keyrotor.http.testmode import Controls

        app.testmode = Controls(service, settings.public_rate_limit)
    else:  # test mode's controls and faults come before any answer, the quick ones too
        app.quick = app.fast.quick
    if with_console:
        app.console = Console(settings)
    exporter = None
    if metrics is not None:
        app.meter = HttpMeter(RouteTemplates(_templates(app)))
        exporter = app.state.metrics = Exporter(
            service,
            app.meter,
            pool,
            safe_after=settings.token_lifetime + settings.clock_skew,
            unopened=app.state.active_keys.unopened,
            options=metrics,
        )
    app.router.redirect_slashes = False
    app.add_middleware(AcceptJSON)  # OktaHeaders wraps the app in App.__call__
    return app


def _templates(app: App) -> list[str]:
    """The path templates requests are counted under: the routes', test mode's, the
    console's."""
    routes = [*app.routes, *(app.testmode.routes.routes if app.testmode else [])]
    found = [route.path for route in routes if isinstance(route, Route)]
    if app.console is not None:
        found += ["/console", "/console/assets/{file:path}"]  # http/console.py's files
    return found


async def _sweeper(service: KeyService, interval: float) -> None:
    """Apply due AUTO rotations even when nobody reads the servers; write API tokens'
    last uses."""
    while True:
        await asyncio.sleep(interval)
        try:
            applied = await run_in_threadpool(service.sweep)
            if applied:
                log.info("sweep applied %d due key change(s)", applied)
            await run_in_threadpool(service.api_tokens.flush_uses)  # API tokens' last use
        except StoreUnavailable:
            log.warning("sweep skipped: the store is unavailable")
        except Exception:
            log.exception("sweep failed")
