"""Event hooks, their deliveries and the rotation notices of ``SqlTransaction``: SQLite and
PostgreSQL alike.

Deliveries are claimed with a lease: the due rows are read ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL (so two replicas never claim one row at once; SQLite has one writer anyway) and
their next attempt moved past the attempt's timeout in the same transaction. A worker that
dies mid-attempt leaves the row to be taken again once the lease ends: at least once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, select, update
from sqlalchemy.engine import RowMapping

from keyrotor.hooks import Delivery, DeliveryStatus, EventHook, HookStatus, Verification
from keyrotor.storage.tables import (
    audit_events,
    event_hooks,
    hook_deliveries,
    rotation_notices,
    servers,
)

_H = event_hooks.c
_D = hook_deliveries.c
_N = rotation_notices.c


class HookRows:
    """Mixed into ``SqlTransaction``; uses its connection ``_c``."""

    _c: Connection
    _postgres: bool

    def last_event_position(self) -> int:
        return int(self._c.execute(select(func.max(audit_events.c.seq))).scalar() or 0)

    def insert_hook(self, hook: EventHook) -> None:
        self._c.execute(insert(event_hooks).values(**_hook_row(hook)))

    def update_hook(self, hook: EventHook) -> None:
        values = _hook_row(hook)
        del values["id"], values["created"]
        self._c.execute(update(event_hooks).where(_H.id == hook.id).values(**values))

    def get_hook(self, hook_id: str, *, lock: bool = False) -> EventHook | None:
        query = select(event_hooks).where(_H.id == hook_id)
        if lock and self._postgres:
            query = query.with_for_update()
        row = self._c.execute(query).mappings().first()
        return _hook(row) if row else None

    def list_hooks(self) -> list[EventHook]:
        query = select(event_hooks).order_by(_H.created, _H.id)
        return [_hook(row) for row in self._c.execute(query).mappings()]

    def delete_hook(self, hook_id: str) -> bool:
        self._c.execute(delete(hook_deliveries).where(_D.hook_id == hook_id))
        return self._c.execute(delete(event_hooks).where(_H.id == hook_id)).rowcount > 0

    def lock_receiving_hooks(self) -> list[EventHook]:
        query = (
            select(event_hooks)
            .where(_H.status == HookStatus.ACTIVE.value, _H.verification == "VERIFIED")
            .order_by(_H.created, _H.id)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        return [_hook(row) for row in self._c.execute(query).mappings()]

    def insert_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            self._c.execute(insert(hook_deliveries), [_delivery_row(d) for d in deliveries])

    def claim_deliveries(self, now: datetime, lease: datetime, limit: int) -> list[Delivery]:
        due = (
            select(hook_deliveries)
            .where(_D.status == DeliveryStatus.PENDING.value, _D.next_attempt <= now)
            .order_by(_D.next_attempt, _D.id)
            .limit(limit)
        )
        if self._postgres:
            due = due.with_for_update(skip_locked=True)
        found = [_delivery(row) for row in self._c.execute(due).mappings()]
        if found:
            ids = [d.id for d in found]
            self._c.execute(
                update(hook_deliveries).where(_D.id.in_(ids)).values(next_attempt=lease)
            )
        return found

    def update_delivery(self, delivery: Delivery) -> None:
        values = _delivery_row(delivery)
        for fixed in ("id", "hook_id", "event_seq", "event_uuid", "event_type", "payload"):
            del values[fixed]
        del values["created"]
        self._c.execute(update(hook_deliveries).where(_D.id == delivery.id).values(**values))

    def list_deliveries(
        self, hook_id: str | None, status: str | None, limit: int
    ) -> list[Delivery]:
        query = (
            select(hook_deliveries).order_by(_D.created.desc(), _D.event_seq.desc()).limit(limit)
        )
        if hook_id is not None:
            query = query.where(_D.hook_id == hook_id)
        if status is not None:
            query = query.where(_D.status == status)
        return [_delivery(row) for row in self._c.execute(query).mappings()]

    # -- notice before an AUTO rotation ------------------------------------------------

    def notices_due(self, now: datetime, notice: timedelta, limit: int) -> list[str]:
        warned = exists().where(
            _N.server_id == servers.c.id, _N.rotation_at == servers.c.next_rotation
        )
        query = (
            select(servers.c.id)
            .where(
                and_(
                    servers.c.rotation_mode == "AUTO",
                    servers.c.next_rotation > now,
                    servers.c.next_rotation <= now + notice,
                    ~warned,
                )
            )
            .order_by(servers.c.seq)
            .limit(limit)
        )
        return list(self._c.execute(query).scalars())

    def mark_notice(self, server_id: str, rotation_at: datetime, now: datetime) -> bool:
        found = self._c.execute(select(_N.rotation_at).where(_N.server_id == server_id)).first()
        if found is not None and found[0] == rotation_at:
            return False
        if found is None:
            self._c.execute(
                insert(rotation_notices).values(
                    server_id=server_id, rotation_at=rotation_at, noticed=now
                )
            )
        else:
            self._c.execute(
                update(rotation_notices)
                .where(_N.server_id == server_id)
                .values(rotation_at=rotation_at, noticed=now)
            )
        return True


def _hook_row(hook: EventHook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "name": hook.name,
        "description": hook.description,
        "status": hook.status.value,
        "verification": hook.verification.value,
        "events": json.dumps(list(hook.events)),
        "uri": hook.uri,
        "headers": json.dumps([list(h) for h in hook.headers], ensure_ascii=False),
        "auth_key": hook.auth_key,
        "sealed_secret": hook.sealed_secret,
        "created": hook.created,
        "last_updated": hook.last_updated,
        "created_by": hook.created_by,
        "event_cursor": hook.cursor,
    }


def _hook(row: RowMapping) -> EventHook:
    sealed = row["sealed_secret"]
    return EventHook(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        status=HookStatus(row["status"]),
        verification=Verification(row["verification"]),
        events=tuple(json.loads(row["events"])),
        uri=row["uri"],
        headers=tuple((str(k), str(v)) for k, v in json.loads(row["headers"])),
        auth_key=row["auth_key"],
        sealed_secret=bytes(sealed) if sealed is not None else None,
        created=row["created"],
        last_updated=row["last_updated"],
        created_by=row["created_by"],
        cursor=int(row["event_cursor"]),
    )


def _delivery_row(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "hook_id": d.hook_id,
        "event_seq": d.event_seq,
        "event_uuid": d.event_uuid,
        "event_type": d.event_type,
        "payload": d.payload,
        "status": d.status.value,
        "attempts": d.attempts,
        "next_attempt": d.next_attempt,
        "created": d.created,
        "last_attempt": d.last_attempt,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "delivered": d.delivered,
    }


def _delivery(row: RowMapping) -> Delivery:
    return Delivery(
        id=row["id"],
        hook_id=row["hook_id"],
        event_seq=int(row["event_seq"]),
        event_uuid=row["event_uuid"],
        event_type=row["event_type"],
        payload=row["payload"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt=row["next_attempt"],
        created=row["created"],
        last_attempt=row["last_attempt"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        delivered=row["delivered"],
    )
