"""The web console's files: the page at ``/console`` and its script and style sheet under
``/console/assets/`` (``src/keyrotor/console``; no build step).

The console holds no data and no credentials of its own: the page signs in with an API
token that the browser keeps in ``sessionStorage`` and sends, as ``Authorization: SSWS``,
to the management API like any other client. So these files are public, like the JWKS.
Every answer carries a strict Content-Security-Policy (scripts, styles and requests from
this origin only; no inline script or style, no framing), ``nosniff`` and no referrer.

``App.__call__`` hands ``/console`` and what is under it to ``Console`` (when ``serve``
runs without ``--no-console``) after the host check and the per-IP limit, so the files are
not routes of the API: the OpenAPI document does not describe them.
"""

from __future__ import annotations

import functools
import html
from importlib import resources
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from keyrotor import __version__
from keyrotor.config import Settings
from keyrotor.errors import KeyrotorError, MethodNotAllowed, NotFound
from keyrotor.http.render import error_response

PATH = "/console"
ASSETS = PATH + "/assets/"

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidated each time: a new version shows at once
}


def is_console_path(path: str) -> bool:
    """Whether ``path`` is the console's (``App.__call__`` has dropped a trailing slash)."""
    return path == PATH or path.startswith(ASSETS)


class Console:
    """The ASGI app of the console's files."""

    def __init__(self, settings: Settings) -> None:
        self.assets = StaticFiles(packages=[("keyrotor", "console/assets")])
        self.public_path = urlsplit(settings.public_url or "").path.rstrip("/")
        policy = settings.policy
        lead = policy.next_lead
        # what the timeline needs to draw retirements and NEXT keys to come; not secret
        live = settings.token_lifetime + settings.clock_skew
        self.facts = {
            "retention": str(int(policy.retention.total_seconds())),
            "live-window": str(int(live.total_seconds())),  # a token signed now is valid
            "rotation-period": str(int(policy.period.total_seconds())),
            "next-lead": str(int(lead.total_seconds())) if lead else "",
            "version": __version__,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        send = _with_headers(send)
        if scope["method"] not in ("GET", "HEAD"):
            await error_response(MethodNotAllowed(), headers={"Allow": "GET, HEAD"})(
                scope, receive, send
            )
            return
        path: str = scope["path"]
        if path == PATH:
            # behind a proxy that strips a prefix, the page names its files under it
            prefix = self.public_path or str(scope.get("root_path", "")).rstrip("/")
            body = _page(prefix, tuple(sorted(self.facts.items())))
            await Response(body, media_type="text/html; charset=utf-8")(scope, receive, send)
            return
        asset = {**scope, "path": "/" + path[len(ASSETS) :], "root_path": ""}
        try:
            await self.assets(asset, receive, send)
        except HTTPException as exc:
            error: KeyrotorError = (
                MethodNotAllowed() if exc.status_code == 405 else NotFound(path, "Resource")
            )
            await error_response(error)(scope, receive, send)


@functools.lru_cache(maxsize=16)
def _page(prefix: str, facts: tuple[tuple[str, str], ...]) -> bytes:
    """The page, its links under ``prefix``, the facts as ``data-`` attributes of ``body``."""
    template = resources.files("keyrotor").joinpath("console/index.html").read_text("utf-8")
    attributes = " ".join(f'data-{name}="{html.escape(value)}"' for name, value in facts)
    return (
        template.replace("{{prefix}}", html.escape(prefix))
        .replace("{{facts}}", attributes)
        .encode()
    )


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {name.lower().encode() for name in HEADERS}
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
            headers += [(k.encode(), v.encode()) for k, v in HEADERS.items()]
            message = {**message, "headers": headers}
        await send(message)

    return sending
