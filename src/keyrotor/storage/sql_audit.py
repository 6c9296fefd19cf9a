"""The audit record's rows (``keyrotor.audit``) of ``SqlTransaction``: SQLite and PostgreSQL.

``record_event`` only collects; ``flush_events`` writes them as the transaction's last
statements, just before its commit. There, on PostgreSQL, the transaction first takes an
advisory lock held until it commits: events get their positions (``seq``) in the order
their transactions commit, so a reader paging with ``after`` never skips an event that
committed late. It is the transaction's last lock, so it cannot take part in a deadlock.
SQLite's writers are serialised anyway.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, text, true
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql.elements import ColumnElement

from keyrotor.audit import Actor, AuditEvent, EventQuery, Target, details_json
from keyrotor.storage.tables import audit_events

_ORDER_LOCK = 0x6B72617564697400  # "kraudit\0": the order of recording transactions
_SEARCHED = (
    *("event_type", "actor_id", "actor_name", "target_id", "target_name", "server_id"),
    "details",
)
_T = audit_events.c


class AuditRows:
    """Mixed into ``SqlTransaction``; uses its connection ``_c``."""

    _c: Connection
    _postgres: bool
    _events: list[AuditEvent] | None = None
    _transaction_id: str = ""

    def record_event(self, event: AuditEvent) -> None:
        if self._events is None:
            self._events, self._transaction_id = [], str(uuid.uuid4())
        self._events.append(dataclasses.replace(event, transaction_id=self._transaction_id))

    @property
    def events(self) -> list[AuditEvent]:
        """What this transaction recorded (stored by ``flush_events``)."""
        return self._events or []

    def flush_events(self) -> None:
        """Store the recorded events: the transaction's last statements."""
        if not self._events:
            return
        if self._postgres:
            self._c.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ORDER_LOCK})
        self._c.execute(insert(audit_events), [_row(e) for e in self._events])

    def list_events(self, query: EventQuery) -> list[tuple[int, AuditEvent]]:
        conditions: list[ColumnElement[bool]] = []
        if query.after is not None:
            conditions.append(_T.seq < query.after if query.descending else _T.seq > query.after)
        if query.since is not None:
            conditions.append(_T.published >= query.since)
        if query.until is not None:
            conditions.append(_T.published < query.until)
        for column, value in (
            (_T.server_id, query.server_id),
            (_T.event_type, query.event_type),
            (_T.actor_id, query.actor_id),
        ):
            if value is not None:
                conditions.append(column == value)
        if query.target_id is not None:
            conditions.append(or_(_T.target_id == query.target_id, _T.server_id == query.target_id))
        for word in query.keywords:
            pattern = "%" + _escape_like(word.lower()) + "%"
            conditions.append(or_(*(_T[name].ilike(pattern, escape="\\") for name in _SEARCHED)))
        order = _T.seq.desc() if query.descending else _T.seq
        found = select(audit_events).where(and_(true(), *conditions)).order_by(order)
        rows = self._c.execute(found.limit(query.limit)).mappings()
        listed = [(int(row["seq"]), _event(row)) for row in rows]
        if self._events:  # this transaction's own, not stored yet: after everything stored
            start = max((seq for seq, _ in listed), default=0) + 1
            own = [(start + i, e) for i, e in enumerate(self._events)]
            listed += [row for row in own if query.matches(*row)]
            listed.sort(key=lambda row: row[0], reverse=query.descending)
            listed = listed[: query.limit]
        return listed


def _row(e: AuditEvent) -> dict[str, Any]:
    return {
        "uuid": e.uuid,
        "published": e.published,
        "event_type": e.event_type,
        "actor_id": e.actor.id,
        "actor_type": e.actor.type,
        "actor_name": e.actor.name,
        "target_type": e.target.type,
        "target_id": e.target.id,
        "target_name": e.target.name,
        "server_id": e.server_id,
        "outcome": e.outcome,
        "transaction_id": e.transaction_id,
        "details": details_json(e.details),
    }


def _event(row: RowMapping) -> AuditEvent:
    return AuditEvent(
        uuid=row["uuid"],
        published=row["published"],
        event_type=row["event_type"],
        actor=Actor(row["actor_id"], row["actor_type"], row["actor_name"]),
        target=Target(row["target_id"], row["target_type"], row["target_name"]),
        server_id=row["server_id"],
        outcome=row["outcome"],
        details=json.loads(row["details"]),
        transaction_id=row["transaction_id"],
    )


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
