"""Fill a fresh store with many authorization servers, each with an EXPIRED, ACTIVE, NEXT key.

    .venv/bin/python -m bench.seed URL --servers N [--due]

Runs before keyrotor starts on the store, through keyrotor's own storage interface
(``open_store``, ``insert_server``, ``insert_keys``), so it follows schema changes. Making
3 N real RSA keys would take minutes, so a few real keys lend their material to all seeded
keys, each under its own synthetic kid and sealed for that kid with the benchmark's KEK
(the server opens and signs with them like any other key). With ``--due`` every server's
AUTO rotation is already due, for the sweep test.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from joserfc.jwk import RSAKey

from bench.target import BENCH_KEK
from keyrotor.crypto import Sealer, decode_kek
from keyrotor.keys import KeyStatus, SigningKey
from keyrotor.servers import AuthorizationServer, RotationMode
from keyrotor.storage import open_store

REAL_KEYS = 16
BATCH = 500
PERIOD = timedelta(days=90)


@dataclass(frozen=True)
class Material:
    """The public numbers and private PEM of one real RSA-2048 key."""

    n: str
    e: str
    pem: bytes


@dataclass(frozen=True)
class Seeded:
    """What was seeded: the server ids in order, when, and how long it took."""

    ids: list[str]
    at: datetime
    seconds: float


def real_keys(count: int = REAL_KEYS) -> list[Material]:
    materials = []
    for _ in range(count):
        key = RSAKey.generate_key(2048, private=True)
        public = key.as_dict(private=False)
        materials.append(Material(str(public["n"]), str(public["e"]), key.as_pem(private=True)))
    return materials


def seed_server_id(index: int) -> str:
    """Okta's shape (``aus`` and 17 base62 characters), predictable for the benchmark."""
    return f"ausbench{index:012d}"


def synthetic_kid(counter: int) -> str:
    """43 URL-safe characters, like an RFC 7638 SHA-256 thumbprint, unique per counter."""
    digest = hashlib.sha256(f"keyrotor-bench-kid-{counter}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Seeder:
    """Builds seeded servers and their keys, sealing each key for its own kid."""

    def __init__(self, materials: list[Material], now: datetime, due: bool) -> None:
        self.materials = materials
        self.sealer = Sealer(decode_kek(BENCH_KEK))
        self.now = now
        self.due = due

    def last_rotated(self) -> datetime:
        """Ten days ago, or for due servers a full period and a day ago."""
        return self.now - (PERIOD + timedelta(days=1) if self.due else timedelta(days=10))

    def keys(self, index: int, server_id: str) -> list[SigningKey]:
        """Generations 1, 2, 3: EXPIRED at the last rotation, ACTIVE since it, NEXT from it."""
        rotated = self.last_rotated()
        before = rotated - PERIOD
        plan = [
            (KeyStatus.EXPIRED, before, before, rotated),
            (KeyStatus.ACTIVE, before, rotated, None),
            (KeyStatus.NEXT, rotated, None, None),
        ]
        keys = []
        for generation, (status, created, activated, expired) in enumerate(plan, start=1):
            counter = 3 * index + generation
            material = self.materials[counter % len(self.materials)]
            kid = synthetic_kid(counter)
            keys.append(
                SigningKey(
                    kid=kid,
                    server_id=server_id,
                    status=status,
                    n=material.n,
                    e=material.e,
                    created=created,
                    sealed_private=self.sealer.seal(material.pem, kid),
                    generation=generation,
                    activated=activated,
                    expired=expired,
                )
            )
        return keys

    def server(self, index: int, active_kid: str) -> AuthorizationServer:
        """A server as ``keyrotor.lifecycle`` leaves it after two rotations (version 3)."""
        rotated = self.last_rotated()
        name = f"seed-{index:05d}"
        return AuthorizationServer(
            id=seed_server_id(index),
            name=name,
            audiences=(f"api://{name}",),
            description="seeded by bench/seed.py",
            created=rotated - PERIOD,
            last_updated=rotated,
            rotation_mode=RotationMode.AUTO,
            last_rotated=rotated,
            next_rotation=self.now - timedelta(days=1) if self.due else rotated + PERIOD,
            kid=active_kid,
            version=3,
        )

    def batch(self, indexes: range) -> tuple[list[AuthorizationServer], list[SigningKey]]:
        servers, keys = [], []
        for index in indexes:
            own = self.keys(index, seed_server_id(index))
            active = next(k for k in own if k.status is KeyStatus.ACTIVE)
            servers.append(self.server(index, active.kid))
            keys.extend(own)
        return servers, keys


def batches(count: int, size: int = BATCH) -> Iterator[range]:
    for start in range(0, count, size):
        yield range(start, min(start + size, count))


def seed(url: str, count: int, *, due: bool = False) -> Seeded:
    """Migrate the store at ``url`` and add ``count`` servers with 3 keys each."""
    started = time.monotonic()
    now = datetime.now(UTC)
    seeder = Seeder(real_keys(), now, due)
    store = open_store(url)
    try:
        store.migrate()  # type: ignore[attr-defined]  # the SQL stores have it
        for indexes in batches(count):
            servers, keys = seeder.batch(indexes)
            with store.transaction(write=True) as tx:
                for server in servers:
                    tx.insert_server(server)
                tx.insert_keys(keys)
    finally:
        store.close()
    ids = [seed_server_id(i) for i in range(count)]
    return Seeded(ids=ids, at=now, seconds=time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--servers", type=int, required=True)
    parser.add_argument("--due", action="store_true", help="every AUTO rotation already due")
    args = parser.parse_args()
    seeded = seed(args.url, args.servers, due=args.due)
    print(f"seeded {len(seeded.ids)} servers in {seeded.seconds:.1f} s")


if __name__ == "__main__":
    main()
