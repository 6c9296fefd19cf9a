"""Signing keys: their statuses and the public view of them. Pure data, no I/O."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class KeyStatus(StrEnum):
    """A key only ever moves forward: NEXT -> ACTIVE -> EXPIRED."""

    NEXT = "NEXT"
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {KeyStatus.NEXT: 0, KeyStatus.ACTIVE: 1, KeyStatus.EXPIRED: 2}
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
    expired: datetime | None = None

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
        return dataclasses.replace(self, status=status, expired=now)

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
