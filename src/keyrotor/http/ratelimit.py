"""Per-caller rate limits in one-minute windows, reported as Okta's ``X-Rate-Limit-*`` headers.

Three limits, each a setting: the management API per API token or client
(``--rate-limit``), the token endpoints per client (``--token-rate-limit``), and
everything a caller may ask without credentials per IP address (``--public-rate-limit``:
JWKS, discovery, the token endpoints too, the OpenAPI document). The address is the
socket's peer unless ``--forwarded-allow-ips`` names the proxy in front.

Each replica counts its own requests: behind a load balancer of N replicas a caller gets
up to N times the limit (documented in docs/deployment.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from starlette.types import Scope

from keyrotor.oauth import TokenRequest

WINDOW_SECONDS = 60


class Quota(NamedTuple):  # a tuple: made on every request, cheaper than a frozen dataclass
    limit: int
    remaining: int
    reset: int  # UTC epoch seconds when the window ends
    exceeded: bool

    def headers(self) -> dict[str, str]:
        """Okta's ``X-Rate-Limit-*``; once exceeded, ``Retry-After`` too (seconds)."""
        found = {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Reset": str(self.reset),
        }
        if self.exceeded:
            found["Retry-After"] = str(max(1, self.reset - int(time.time())))
        return found

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """``headers`` as ASGI wants them (built directly: this runs on every request)."""
        found = [
            (b"x-rate-limit-limit", b"%d" % self.limit),
            (b"x-rate-limit-remaining", b"%d" % self.remaining),
            (b"x-rate-limit-reset", b"%d" % self.reset),
        ]
        if self.exceeded:
            found.append((b"retry-after", b"%d" % max(1, self.reset - int(time.time()))))
        return found


def token_quota(limiter: RateLimiter, scope: Scope, asked: TokenRequest) -> bool:
    """Count a token request against its client (its address when it names none), once:
    the quota is kept in the scope for the answer's headers. Whether it is exceeded."""
    state = scope.setdefault("state", {})
    quota = state.get("token_quota")
    if quota is None:
        caller = f"c:{asked.client_id}" if asked.client_id else "ip:" + client_ip(scope)
        quota = state["token_quota"] = state["quota"] = limiter.hit(caller)
    return bool(quota.exceeded)


def client_ip(scope: Scope) -> str:
    """The caller's address (uvicorn puts a trusted proxy's X-Forwarded-For here)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RateLimiter:
    def __init__(self, limit: int, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._window = 0
        self._counts: dict[str, int] = {}

    def hit(self, caller: str) -> Quota:
        """Count one request of ``caller`` and answer its quota."""
        return self._count(caller, 1)

    def peek(self, caller: str) -> Quota:
        """The quota of ``caller`` without counting (for answers no route handled)."""
        return self._count(caller, 0)

    def _count(self, caller: str, cost: int) -> Quota:
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            used = self._counts.get(caller, 0) + cost
            if cost:
                self._counts[caller] = used
        reset = (window + 1) * WINDOW_SECONDS
        return Quota(self.limit, max(0, self.limit - used), reset, used > self.limit)
