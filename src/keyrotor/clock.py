"""Time, injected: the service asks a ``Clock`` and tests hand it one they can move."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, in UTC, to the millisecond (the precision of Okta's timestamps)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class ManualClock:
    """A clock that moves only when told to, optionally offset from the real one."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or system_clock()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


def iso(moment: datetime) -> str:
    """Okta's timestamp format: ``YYYY-MM-DDTHH:mm:ss.SSSZ``."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )
