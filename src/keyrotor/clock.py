"""Time, injected: the service asks a ``Clock`` and tests hand it one they can move."""

from __future__ import annotations

import threading
import time
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


class OffsetClock:
    """System time plus an offset that only grows until ``reset`` (``serve --test-mode``):
    moving it makes months pass for the server while the real clock runs on."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        return system_clock() + self._offset

    @property
    def offset(self) -> timedelta:
        return self._offset

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (to the millisecond); the new time."""
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += _whole_ms(delta)
            return self()

    def set(self, moment: datetime) -> datetime:
        """Move forward to ``moment``; the new time."""
        with self._lock:
            now = self()
            if moment < now:
                raise ValueError(f"{iso(moment)} is before the clock's time {iso(now)}")
            self._offset += _whole_ms(moment - now)
            return self()

    def reset(self) -> None:
        """Back to the system's time."""
        with self._lock:
            self._offset = timedelta(0)


def _whole_ms(delta: timedelta) -> timedelta:
    return timedelta(milliseconds=delta // timedelta(milliseconds=1))


def iso(moment: datetime) -> str:
    """Okta's timestamp format: ``YYYY-MM-DDTHH:mm:ss.SSSZ``."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


class CoarseClock:
    """``clock`` read at most once a millisecond (the precision of ``system_clock``): the
    hot paths ask the time on every request, and the answer changes only that often."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._until = 0.0
        self._now = clock()

    def __call__(self) -> datetime:
        tick = time.monotonic()
        if tick >= self._until:
            self._now, self._until = self._clock(), tick + 0.001
        return self._now


def coarse(clock: Clock) -> Clock:
    """A coarse version of the system clock; any other clock (a test's) as it is."""
    return CoarseClock(clock) if clock is system_clock else clock
