"""Per-caller rate limits in one-minute windows, reported as Okta's ``X-Rate-Limit-*`` headers.

Each replica counts its own requests: behind a load balancer of N replicas a caller gets
up to N times the limit (documented in docs/deployment.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    remaining: int
    reset: int  # UTC epoch seconds when the window ends
    exceeded: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Reset": str(self.reset),
        }


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
