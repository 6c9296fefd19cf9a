"""What requests read of one authorization server, in one immutable value.

A ``Snapshot`` is the server's row, its published keys, its scopes and its rendered JWKS as
one store transaction saw them, valid until the next scheduled change (a due rotation, a
NEXT key falling due, a retained key leaving the JWKS) and until a write invalidates it.
Pure: built from data and a time; the service caches it (``keyrotor.cache``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from keyrotor import encryption, lifecycle
from keyrotor.encryption import Encrypter
from keyrotor.keys import KeyStatus, SigningKey
from keyrotor.lifecycle import RotationPolicy
from keyrotor.scopes import MetadataPublish, Scope
from keyrotor.servers import AuthorizationServer

# a cached snapshot is read again after this long even if nothing said it changed: a bound
# on staleness should a change notification ever be lost
MAX_AGE = timedelta(seconds=30)


_MAX_AGE = "max-age"  # the memo's key of the last max_age worked out


@dataclass(frozen=True, slots=True)
class Jwks:
    """A server's public JWKS: identical bytes on every replica, so the ETag is too."""

    body: bytes
    etag: str
    max_age: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    server: AuthorizationServer
    keys: tuple[SigningKey, ...]  # as published: ACTIVE, NEXT, then retained EXPIRED
    scopes: tuple[Scope, ...]
    jwks_body: bytes
    jwks_etag: str
    changes_at: datetime | None  # the next scheduled change of what is published
    valid_until: datetime
    memo: dict[object, object] = field(default_factory=dict, compare=False)  # renderings
    # the ACTIVE encryption key, parsed once, when the server encrypts its access tokens
    encrypter: Encrypter | None = field(default=None, compare=False)

    @property
    def active(self) -> SigningKey:
        return self.keys[0]  # published() puts the one ACTIVE key first

    @property
    def scope_names(self) -> frozenset[str]:
        return frozenset(s.name for s in self.scopes)

    @property
    def published_scopes(self) -> list[str]:
        return [s.name for s in self.scopes if s.metadata_publish is MetadataPublish.ALL_CLIENTS]

    def jwks(self, now: datetime, max_age: int) -> Jwks:
        """The JWKS with a ``max-age`` that never runs past the next scheduled change."""
        return Jwks(self.jwks_body, self.jwks_etag, self.max_age(now, max_age))

    def max_age(self, now: datetime, cap: int) -> int:
        """Seconds a cache may keep the JWKS: ``cap``, or less before a scheduled change."""
        if self.changes_at is None:
            return cap
        last = self.memo.get(_MAX_AGE)  # the hot paths ask with the same ``now`` a while
        if isinstance(last, tuple) and last[0] is now and last[1] == cap:
            return int(last[2])
        found = max(0, min(cap, int((self.changes_at - now).total_seconds())))
        self.memo[_MAX_AGE] = (now, cap, found)
        return found


def build(
    server: AuthorizationServer,
    keys: list[SigningKey],
    scopes: list[Scope],
    now: datetime,
    policy: RotationPolicy,
) -> Snapshot:
    shown = lifecycle.published(keys, now, policy)
    if not shown or shown[0].status is not KeyStatus.ACTIVE:
        raise AssertionError(f"server {server.id} has no ACTIVE key")
    body = json.dumps({"keys": [k.public_jwk() for k in shown]}, separators=(",", ":")).encode()
    changes_at = lifecycle.next_change(server, keys, now, policy)
    until = now + MAX_AGE if changes_at is None else min(changes_at, now + MAX_AGE)
    return Snapshot(
        server=server,
        keys=tuple(shown),
        scopes=tuple(scopes),
        jwks_body=body,
        jwks_etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        changes_at=changes_at,
        valid_until=until,
        encrypter=_encrypter(server),
    )


def _encrypter(server: AuthorizationServer) -> Encrypter | None:
    """The parsed ACTIVE encryption key of a server that encrypts its tokens."""
    active = encryption.active_key(server.encryption_keys)
    if server.encryption_alg is None or active is None:
        return None
    return Encrypter(active)
