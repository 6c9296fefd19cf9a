"""A sealed private key is bound to its server and kid (issue #11): moved to another
server's row, or read as another kid, it does not open; keys sealed the old way are bound
by ``serve`` at start."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from keyrotor import keks
from keyrotor.config import Settings
from keyrotor.crypto import KeyFactory, KeyNotOpened, Sealer, encode_kek
from keyrotor.runtime import open_service
from keyrotor.service import KeyService, ServerSpec
from tests.conftest import TEST_KEK, free_port, server_env

SEALER = Sealer(TEST_KEK)


def test_a_bound_key_opens_only_for_its_server_and_kid() -> None:
    sealed = SEALER.seal(b"private", "kid-1", "ausA")
    assert sealed[:1] == b"\x02"
    assert SEALER.open(sealed, "kid-1", "ausA") == b"private"
    for kid, owner in [("kid-1", "ausB"), ("kid-2", "ausA"), ("kid-1", None)]:
        with pytest.raises(InvalidTag):
            SEALER.open(sealed, kid, owner)


def test_a_pooled_key_is_bound_when_a_server_takes_it() -> None:
    material = KeyFactory(SEALER).generate()
    assert material.sealed_private[:1] == b"\x01"  # the pool's: its kid alone
    bound = SEALER.bind(material.sealed_private, material.kid, "ausA")
    assert SEALER.opens(bound, material.kid, "ausA")
    assert not SEALER.opens(bound, material.kid, "ausB")


def test_every_stored_key_of_a_server_is_bound_to_it(service: KeyService) -> None:
    made = service.create_server(ServerSpec(name="a", audiences=("api://a",)))
    service.rotate(made.id)
    with service.store.transaction() as tx:
        keys = tx.keys(made.id) + tx.keys("default")
    assert keys and all(k.sealed_private[:1] == b"\x02" for k in keys)
    for key in keys:
        assert SEALER.opens(key.sealed_private, key.kid, key.server_id)


def test_a_key_moved_to_another_server_does_not_sign(service: KeyService) -> None:
    """Someone who can write the database copies server A's ACTIVE key into server B's row:
    B cannot sign with it."""
    other = service.create_server(ServerSpec(name="b", audiences=("api://b",)))
    _, stolen = service.active_key("default")
    moved = dataclasses.replace(stolen, server_id=other.id)
    fresh = KeyFactory(SEALER)  # a replica that has not opened the key yet
    with pytest.raises(KeyNotOpened):
        fresh.sign(moved.sealed_private, moved.kid, {"sub": "x"}, moved.server_id)


def test_serve_binds_keys_sealed_the_old_way(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    service = open_service(Settings(database_url=url, kek=TEST_KEK), migrate=True)
    service.ensure_default()
    with service.store.transaction() as tx:
        sealed = tx.sealed_page(False, None, 100)
    with service.store.transaction(write=True) as tx:  # sealed as stores before held them
        for key in sealed:
            if key.server_id == "default":
                pem = SEALER.open(key.sealed_private, key.kid, key.server_id)
                tx.reseal(key, SEALER.seal(pem, key.kid))
    with service.store.transaction() as tx:
        assert tx.unbound_count() == 2
    service.store.close()
    port = free_port()
    command = [sys.executable, "-m", "keyrotor", "serve", "--port", str(port), "--database", url]
    env = server_env(KEYROTOR_KEK=encode_kek(TEST_KEK))
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.strip() == "Re-sealed 2 stored key(s): each is now bound to its server"
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    again = open_service(Settings(database_url=url, kek=TEST_KEK))
    try:
        with again.store.transaction() as tx:
            assert tx.unbound_count() == 0
        assert keks.bind_legacy(again.store, again.factory.sealer) == 0
    finally:
        again.store.close()
