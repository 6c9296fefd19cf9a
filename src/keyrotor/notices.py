"""Notice before change: ``keyrotor.key.rotation.upcoming``, recorded some time (the
rotation notice, ``serve --rotation-notice``) before an AUTO rotation makes the NEXT key
ACTIVE, so that whoever subscribed (an event hook, a System Log poller) hears of it first.

The sweep records it (``KeyService.sweep``), once per server and scheduled rotation:
under the server's lock it notes the rotation it warned of (``rotation_notices``) and
records the event in the same transaction, so however many replicas sweep, the second one
finds the note and records nothing. A rotation moved (another period, a manual rotation)
is a new rotation: it gets its own notice when it comes within the window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from keyrotor import audit
from keyrotor.clock import Clock, iso
from keyrotor.keys import KeyStatus, SigningKey
from keyrotor.servers import AuthorizationServer, RotationMode
from keyrotor.storage import Store

DEFAULT_NOTICE = timedelta(days=7)
BATCH = 500


def upcoming(server: AuthorizationServer, now: datetime, notice: timedelta) -> bool:
    """Whether the server's AUTO rotation comes within ``notice`` (and has not come yet)."""
    at = server.next_rotation
    auto = server.rotation_mode is RotationMode.AUTO
    return auto and at is not None and now < at <= now + notice


def rotation_upcoming(
    server: AuthorizationServer, following: SigningKey | None, now: datetime, notice: timedelta
) -> audit.AuditEvent:
    """The event: the server, when it rotates, the key it signs with and the one to come
    (``None`` until the NEXT key is made, with ``serve --next-key-lead-days``)."""
    assert server.next_rotation is not None
    details = {
        "serverName": server.name,
        "rotationAt": iso(server.next_rotation),
        "noticeSeconds": int(notice.total_seconds()),
        "kid": server.kid,
        "nextKid": following.kid if following is not None else None,
    }
    return audit.event(
        audit.KEY_ROTATION_UPCOMING,
        audit.SYSTEM,
        audit.server_target(server),
        now,
        server_id=server.id,
        details=details,
    )


def warn_upcoming(store: Store, clock: Clock, notice: timedelta | None) -> int:
    """Record the notice of every AUTO rotation now within ``notice`` that was not
    noticed yet; answers how many were recorded. ``None`` or zero: no notices."""
    if notice is None or notice <= timedelta(0):
        return 0
    with store.transaction() as tx:
        due = tx.notices_due(clock(), notice, BATCH)
    made = 0
    for server_id in due:
        with store.transaction(write=True) as tx:
            server = tx.get_server(server_id, lock=True)
            now = clock()
            if server is None or not upcoming(server, now, notice):
                continue
            assert server.next_rotation is not None
            if not tx.mark_notice(server_id, server.next_rotation, now):
                continue  # another replica noticed it first
            keys = tx.keys(server_id, since=now)
            following = next((k for k in keys if k.status is KeyStatus.NEXT), None)
            tx.record_event(rotation_upcoming(server, following, now, notice))
            made += 1
    return made
