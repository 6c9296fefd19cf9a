"""Signing keys: their statuses and the public view of them. Pure data, no I/O."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class KeyStatus(StrEnum):
    """A key only ever moves forward: NEXT -> ACTIVE -> EXPIRED, and from any of them to
    REVOKED (keyrotor's emergency revoke: never published nor used to sign again)."""

    NEXT = "NEXT"
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {KeyStatus.NEXT: 0, KeyStatus.ACTIVE: 1, KeyStatus.EXPIRED: 2, KeyStatus.REVOKED: 3}
# the statuses Okta knows, and so the only ones the key list and the JWKS ever show
PUBLISHED_STATUSES = (KeyStatus.NEXT, KeyStatus.ACTIVE, KeyStatus.EXPIRED)
ALGORITHM = "RS256"
USE = "sig"


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """A freshly generated RSA key: public numbers and the sealed (encrypted) private key."""

    kid: str
    n: str
    e: str
    sealed_private: bytes = dataclasses.field(repr=False)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One signing key of one authorization server, as stored."""

    kid: str
    server_id: str
    status: KeyStatus
    n: str
    e: str
    created: datetime
    sealed_private: bytes = dataclasses.field(repr=False)
    generation: int = 0  # 1, 2, 3… per server, in creation (and so activation) order
    activated: datetime | None = None
    expired: datetime | None = None  # when it stopped signing (or, if never, was revoked)

    @property
    def signed(self) -> bool:
        """Whether this key has ever signed (been ACTIVE)."""
        return self.activated is not None

    @classmethod
    def new(
        cls,
        material: KeyMaterial,
        server_id: str,
        status: KeyStatus,
        now: datetime,
        generation: int,
    ) -> SigningKey:
        return cls(
            kid=material.kid,
            server_id=server_id,
            status=status,
            n=material.n,
            e=material.e,
            created=now,
            sealed_private=material.sealed_private,
            generation=generation,
            activated=now if status is KeyStatus.ACTIVE else None,
        )

    def advance(self, status: KeyStatus, now: datetime) -> SigningKey:
        """This key moved one step forward; moving backwards is a bug and raises."""
        if status.rank <= self.status.rank:
            raise ValueError(f"key {self.kid} cannot go from {self.status} to {status}")
        if status is KeyStatus.ACTIVE:
            return dataclasses.replace(self, status=status, activated=now)
        # ``expired``: when it stopped being usable (an EXPIRED key revoked keeps its own)
        return dataclasses.replace(self, status=status, expired=self.expired or now)

    def public_jwk(self) -> dict[str, str]:
        """The RFC 7517 public JWK, in the member order of Okta's JWKS."""
        return {
            "kty": "RSA",
            "alg": ALGORITHM,
            "kid": self.kid,
            "use": USE,
            "e": self.e,
            "n": self.n,
        }
