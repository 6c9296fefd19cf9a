"""The key lifecycle: rotation, AUTO schedule, retention. Pure functions of state and time.

    NEXT ──rotate──▶ ACTIVE ──rotate──▶ EXPIRED ──retention passes──▶ retired (kept, unpublished)
      └───────────────┴──────revoke───────┴──▶ REVOKED (kept, never published nor signing)

Invariants kept here and checked by the property tests: exactly one ACTIVE key per server,
kids and key material never change, a status only moves forward (REVOKED is terminal).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from keyrotor.keys import KeyMaterial, KeyStatus, SigningKey
from keyrotor.servers import AuthorizationServer, RotationMode

DEFAULT_ROTATION_PERIOD = timedelta(days=90)
DEFAULT_RETENTION = timedelta(hours=1, minutes=5)  # default token lifetime + clock skew


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """How keys age.

    ``period``: AUTO rotates this long after the last rotation.
    ``retention``: an EXPIRED key stays published at least this long after it stopped
    signing (and, besides, until the following rotation). Must cover the longest token
    lifetime plus clock skew; ``keyrotor.config`` refuses a setting that does not.
    ``next_lead``: in AUTO mode, generate the NEXT key this long before the rotation that
    promotes it; ``None`` keeps a NEXT key at all times.
    """

    period: timedelta = DEFAULT_ROTATION_PERIOD
    retention: timedelta = DEFAULT_RETENTION
    next_lead: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """What one lifecycle step does: the server after it, keys to update and keys to add."""

    server: AuthorizationServer
    updated: tuple[SigningKey, ...] = ()
    added: tuple[SigningKey, ...] = ()

    def applied_to(self, keys: Iterable[SigningKey]) -> list[SigningKey]:
        """The server's keys after this change."""
        by_kid = {k.kid: k for k in keys}
        by_kid.update((k.kid, k) for k in (*self.updated, *self.added))
        return list(by_kid.values())


KeySource = Callable[[], KeyMaterial]


def first_keys(
    server: AuthorizationServer, now: datetime, policy: RotationPolicy, fresh: KeySource
) -> Change:
    """The keys of a new server: one ACTIVE and (unless a lead time defers it) a NEXT."""
    active = SigningKey.new(fresh(), server.id, KeyStatus.ACTIVE, now, generation=1)
    server = dataclasses.replace(
        server,
        kid=active.kid,
        last_rotated=now,
        next_rotation=_next_rotation(server.rotation_mode, now, policy),
    )
    added = [active]
    if _wants_next(server, now, policy):
        added.append(SigningKey.new(fresh(), server.id, KeyStatus.NEXT, now, generation=2))
    return Change(server=_bump(server, now), added=tuple(added))


def rotate(
    server: AuthorizationServer,
    keys: Sequence[SigningKey],
    now: datetime,
    policy: RotationPolicy,
    fresh: KeySource,
    *,
    defer_next: bool = False,
) -> Change:
    """ACTIVE -> EXPIRED, NEXT -> ACTIVE (or a fresh key when there is no NEXT), fresh NEXT.

    ``defer_next`` leaves the new NEXT key for later (``next_key_due`` then says so): a
    sweep that rotates many servers at once need not generate their keys under a lock.
    """
    active = only(keys, KeyStatus.ACTIVE)
    retiring = active.advance(KeyStatus.EXPIRED, now)
    return _succeed(server, keys, retiring, now, policy, fresh, defer_next=defer_next)


def revoke(
    server: AuthorizationServer,
    keys: Sequence[SigningKey],
    kid: str,
    now: datetime,
    policy: RotationPolicy,
    fresh: KeySource,
) -> Change:
    """Emergency revoke of key ``kid`` (keyrotor's extension): it becomes REVOKED, so it
    leaves the published keys at once and never signs again.

    An ACTIVE key is succeeded as a manual rotation would succeed it (NEXT -> ACTIVE, a
    fresh NEXT, ``kid``/``last_rotated``/``next_rotation`` moved: AUTO's schedule restarts
    from now); a NEXT key is replaced by a fresh NEXT (when the policy wants one now); an
    EXPIRED key (published or already retired) just leaves. A key already REVOKED changes
    nothing: the answer then updates and adds no key. ``keys`` must hold ``kid``, else
    ``KeyError``.
    """
    key = next((k for k in keys if k.kid == kid), None)
    if key is None:
        raise KeyError(kid)
    if key.status is KeyStatus.REVOKED:
        return Change(server=server)
    revoked = key.advance(KeyStatus.REVOKED, now)
    if key.status is KeyStatus.ACTIVE:
        return _succeed(server, keys, revoked, now, policy, fresh)
    added: tuple[SigningKey, ...] = ()
    if key.status is KeyStatus.NEXT and _wants_next(server, now, policy):
        generation = _last_generation(keys) + 1
        added = (SigningKey.new(fresh(), server.id, KeyStatus.NEXT, now, generation),)
    return Change(server=_bump(server, now), updated=(revoked,), added=added)


def _succeed(
    server: AuthorizationServer,
    keys: Sequence[SigningKey],
    retiring: SigningKey,
    now: datetime,
    policy: RotationPolicy,
    fresh: KeySource,
    *,
    defer_next: bool = False,
) -> Change:
    """The ACTIVE key leaves (as ``retiring``: EXPIRED or REVOKED); NEXT (or a fresh key
    when there is none) takes its place and, unless deferred, a fresh NEXT follows."""
    pending = find(keys, KeyStatus.NEXT)
    updated = [retiring]
    generation = _last_generation(keys)
    added = []
    if pending is None:
        generation += 1
        promoted = SigningKey.new(fresh(), server.id, KeyStatus.ACTIVE, now, generation)
        added.append(promoted)
    else:
        promoted = pending.advance(KeyStatus.ACTIVE, now)
        updated.append(promoted)
    server = dataclasses.replace(
        server,
        kid=promoted.kid,
        last_rotated=now,
        next_rotation=_next_rotation(server.rotation_mode, now, policy),
    )
    if _wants_next(server, now, policy) and not defer_next:
        added.append(SigningKey.new(fresh(), server.id, KeyStatus.NEXT, now, generation + 1))
    return Change(server=_bump(server, now), updated=tuple(updated), added=tuple(added))


def rotation_due(server: AuthorizationServer, now: datetime) -> bool:
    """AUTO mode rotates once ``next_rotation`` has come (once, however late)."""
    return (
        server.rotation_mode is RotationMode.AUTO
        and server.next_rotation is not None
        and now >= server.next_rotation
    )


def next_key_due(
    server: AuthorizationServer, keys: Sequence[SigningKey], now: datetime, policy: RotationPolicy
) -> bool:
    """A NEXT key is missing and the policy wants one by now."""
    return find(keys, KeyStatus.NEXT) is None and _wants_next(server, now, policy)


def add_next_key(
    server: AuthorizationServer, keys: Sequence[SigningKey], now: datetime, fresh: KeySource
) -> Change:
    generation = _last_generation(keys) + 1
    key = SigningKey.new(fresh(), server.id, KeyStatus.NEXT, now, generation)
    return Change(server=_bump(server, now), added=(key,))


def change_mode(
    server: AuthorizationServer, mode: RotationMode, now: datetime, policy: RotationPolicy
) -> AuthorizationServer:
    """Switching mode never touches the keys; AUTO schedules a rotation, never in the past."""
    if mode is server.rotation_mode:
        return server
    next_rotation = None
    if mode is RotationMode.AUTO:
        next_rotation = max(server.last_rotated + policy.period, now + policy.period)
    return _bump(dataclasses.replace(server, rotation_mode=mode, next_rotation=next_rotation), now)


def published(
    keys: Iterable[SigningKey], now: datetime, policy: RotationPolicy
) -> list[SigningKey]:
    """Keys shown in the key list and the JWKS: ACTIVE, NEXT, and EXPIRED keys still retained.
    REVOKED keys never are.

    An EXPIRED key is retained while it is the most recently expired one (until the
    following rotation, or revoke of the ACTIVE key) or while ``retention`` has not passed
    since it expired.
    Order: ACTIVE, NEXT, then EXPIRED newest first (by generation), so every replica
    renders the same bytes.
    """
    keys = list(keys)
    kept = [k for i, k in stopped(keys) if i == 0 or _within_retention(k, now, policy)]
    live = [k for k in keys if k.status in (KeyStatus.ACTIVE, KeyStatus.NEXT)]
    live.sort(key=lambda k: k.status is not KeyStatus.ACTIVE)
    return live + kept


def stopped(keys: Iterable[SigningKey]) -> list[tuple[int, SigningKey]]:
    """The EXPIRED keys, newest first, each with its place among the keys that stopped
    signing (EXPIRED, or REVOKED after signing). A revoked key keeps its place though it
    is never shown: revoking the newest EXPIRED key must not bring back an older one that
    its retention had already retired, and revoking the ACTIVE key displaces the newest
    EXPIRED key as a rotation would."""
    done = [
        k
        for k in keys
        if k.status is KeyStatus.EXPIRED or (k.status is KeyStatus.REVOKED and k.signed)
    ]
    done.sort(key=lambda k: k.generation, reverse=True)
    return [(i, k) for i, k in enumerate(done) if k.status is KeyStatus.EXPIRED]


def next_change(
    server: AuthorizationServer, keys: Iterable[SigningKey], now: datetime, policy: RotationPolicy
) -> datetime | None:
    """The next instant at which the published keys change without anyone asking."""
    moments = []
    if server.rotation_mode is RotationMode.AUTO and server.next_rotation is not None:
        moments.append(server.next_rotation)
        if policy.next_lead is not None:
            moments.append(server.next_rotation - policy.next_lead)
    # the newest key that stopped signing leaves only at a rotation (or a revoke); the
    # older ones when their retention ends
    moments.extend(
        k.expired + policy.retention
        for i, k in stopped(keys)
        if i > 0 and k.expired is not None and _within_retention(k, now, policy)
    )
    future = [m for m in moments if m > now]
    return min(future, default=None)


def only(keys: Iterable[SigningKey], status: KeyStatus) -> SigningKey:
    """The one key with this status; anything else breaks an invariant and raises."""
    found = [k for k in keys if k.status is status]
    if len(found) != 1:
        raise AssertionError(f"expected exactly one {status} key, found {len(found)}")
    return found[0]


def find(keys: Iterable[SigningKey], status: KeyStatus) -> SigningKey | None:
    return next((k for k in keys if k.status is status), None)


def _last_generation(keys: Iterable[SigningKey]) -> int:
    return max((k.generation for k in keys), default=0)


def _within_retention(key: SigningKey, now: datetime, policy: RotationPolicy) -> bool:
    return key.expired is not None and now < key.expired + policy.retention


def _wants_next(server: AuthorizationServer, now: datetime, policy: RotationPolicy) -> bool:
    if policy.next_lead is None or server.next_rotation is None:
        return True
    return now >= server.next_rotation - policy.next_lead


def _next_rotation(mode: RotationMode, now: datetime, policy: RotationPolicy) -> datetime | None:
    return now + policy.period if mode is RotationMode.AUTO else None


def _bump(server: AuthorizationServer, now: datetime) -> AuthorizationServer:
    return dataclasses.replace(server, version=server.version + 1, last_updated=now)
