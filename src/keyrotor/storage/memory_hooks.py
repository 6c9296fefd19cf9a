"""Event hooks, their deliveries and the rotation notices of the in-memory store, with the
SQL backends' rules (one delivery per hook and event, deliveries go with their hook)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from keyrotor.audit import AuditEvent
from keyrotor.hooks import Delivery, DeliveryStatus, EventHook
from keyrotor.servers import AuthorizationServer, RotationMode
from keyrotor.storage.base import Conflict


class _Held(Protocol):
    servers: dict[str, tuple[int, AuthorizationServer]]
    hooks: dict[str, EventHook]
    deliveries: dict[str, Delivery]
    notices: dict[str, datetime]  # server id → the rotation it was warned of


class HookMemory:
    """Mixed into ``MemoryTransaction``; uses its state ``_s`` and its record."""

    _s: _Held
    events: list[AuditEvent]
    committed_events: Sequence[tuple[int, AuditEvent]]

    def last_event_position(self) -> int:
        return len(self.committed_events) + len(self.events)

    def insert_hook(self, hook: EventHook) -> None:
        if hook.id in self._s.hooks:
            raise Conflict(f"hook {hook.id} exists")
        self._s.hooks[hook.id] = hook

    def update_hook(self, hook: EventHook) -> None:
        old = self._s.hooks[hook.id]
        self._s.hooks[hook.id] = dataclasses.replace(hook, created=old.created)

    def get_hook(self, hook_id: str, *, lock: bool = False) -> EventHook | None:
        return self._s.hooks.get(hook_id)

    def list_hooks(self) -> list[EventHook]:
        return sorted(self._s.hooks.values(), key=lambda h: (h.created, h.id))

    def delete_hook(self, hook_id: str) -> bool:
        for found in [d for d in self._s.deliveries.values() if d.hook_id == hook_id]:
            del self._s.deliveries[found.id]
        return self._s.hooks.pop(hook_id, None) is not None

    def lock_receiving_hooks(self) -> list[EventHook]:
        return [h for h in self.list_hooks() if h.receives]

    def insert_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        taken = {(d.hook_id, d.event_uuid) for d in self._s.deliveries.values()}
        for delivery in deliveries:
            if (
                delivery.hook_id,
                delivery.event_uuid,
            ) in taken or delivery.id in self._s.deliveries:
                raise Conflict(f"delivery of {delivery.event_uuid} to {delivery.hook_id} exists")
            taken.add((delivery.hook_id, delivery.event_uuid))
            self._s.deliveries[delivery.id] = delivery

    def claim_deliveries(self, now: datetime, lease: datetime, limit: int) -> list[Delivery]:
        due = [
            d
            for d in self._s.deliveries.values()
            if d.status is DeliveryStatus.PENDING and d.next_attempt <= now
        ]
        found = sorted(due, key=lambda d: (d.next_attempt, d.id))[:limit]
        for delivery in found:
            self._s.deliveries[delivery.id] = dataclasses.replace(delivery, next_attempt=lease)
        return found

    def update_delivery(self, delivery: Delivery) -> None:
        if delivery.id in self._s.deliveries:
            self._s.deliveries[delivery.id] = delivery

    def list_deliveries(
        self, hook_id: str | None, status: str | None, limit: int
    ) -> list[Delivery]:
        found = [
            d
            for d in self._s.deliveries.values()
            if (hook_id is None or d.hook_id == hook_id)
            and (status is None or d.status.value == status)
        ]
        return sorted(found, key=lambda d: (d.created, d.event_seq), reverse=True)[:limit]

    def notices_due(self, now: datetime, notice: timedelta, limit: int) -> list[str]:
        found = []
        for _, server in sorted(self._s.servers.values(), key=lambda e: e[0]):
            at = server.next_rotation
            if server.rotation_mode is not RotationMode.AUTO or at is None:
                continue
            if now < at <= now + notice and self._s.notices.get(server.id) != at:
                found.append(server.id)
        return found[:limit]

    def mark_notice(self, server_id: str, rotation_at: datetime, now: datetime) -> bool:
        if self._s.notices.get(server_id) == rotation_at:
            return False
        self._s.notices[server_id] = rotation_at
        return True
