"""The delivery worker of event hooks: a thread ``serve`` starts beside the sweeper.

It turns new audit events into deliveries and sends those that are due
(``HookService.fan_out`` and ``send_due``), then waits for the next change this process
hears of (its own commits, and other replicas' through the change feed) or ``INTERVAL``,
whichever comes first. No request ever waits for it. Every replica runs one; the store's
leases keep them from sending one delivery twice at once.
"""

from __future__ import annotations

import logging
import threading

from keyrotor.hook_service import HookService, Render

log = logging.getLogger("keyrotor.hooks")

INTERVAL = 1.0  # seconds between passes when nothing is heard of (retries come due)


class HookWorker:
    def __init__(self, hooks: HookService, render: Render, base: str) -> None:
        self._hooks = hooks
        self._render = render
        self._base = base  # the public URL, for the payload's source
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0
        hooks.store.feed.subscribe(lambda subjects: self._wake.set())

    def run_once(self) -> int:
        """One pass: fan out, then send until nothing is due; answers the attempts made."""
        self._hooks.fan_out(self._render)
        tried = 0
        while not self._stop.is_set():
            sent = self._hooks.send_due(self._base)
            tried += sent
            if not sent:
                return tried
        return tried

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="keyrotor-hooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_once()
            except Exception as exc:  # the store is away: try again later
                self.failures += 1
                log.warning("event hook delivery pass failed: %s", type(exc).__name__)
            self._wake.wait(INTERVAL)
