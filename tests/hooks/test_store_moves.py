"""Hooks move with the store: ``keyrotor db backup|restore`` (and copy) carry them, their
deliveries and the rotation notices, secret still sealed; test mode's reset takes them
back to the baseline."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from keyrotor import keks
from keyrotor.audit import CLI
from keyrotor.crypto import Sealer, new_kek
from keyrotor.hook_service import HookOptions, HookService
from keyrotor.hooks import SECRET_KID, parse_hook
from keyrotor.service import KeyService
from keyrotor.storage import baseline, transfer
from keyrotor.storage.sql import SqlStore
from tests.conftest import TEST_KEK
from tests.hooks.conftest import SECRET, hook_body


def _hooks(service: KeyService) -> HookService:
    return HookService(
        service.store, service.factory.sealer, service.clock, HookOptions(loopback_ok=True)
    )


def test_backup_and_restore_carry_hooks_sealed(
    make_service: Callable[..., KeyService], tmp_path: Path
) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    hooks = _hooks(make_service(source))
    made = hooks.create(parse_hook(hook_body("http://127.0.0.1:9/x"), hooks.subscribable()), CLI)
    kek = transfer.Kek(Sealer(TEST_KEK), "the tests")
    backup = tmp_path / "store.jsonl"
    summary = transfer.backup(source, backup, [kek])
    assert summary.rows["event_hooks"] == 1
    assert SECRET.encode() not in backup.read_bytes()
    target = f"sqlite:///{tmp_path / 'target.db'}"
    empty = SqlStore(target)  # an empty store with the schema, as `db restore` wants
    empty.migrate()
    empty.close()
    transfer.restore(backup, target, [kek])
    again = _hooks(make_service(target))
    [found] = again.list_hooks()
    assert found == made
    assert found.sealed_secret is not None
    opened = again.sealer.open(found.sealed_secret, SECRET_KID, found.id)
    assert opened.decode() == SECRET


def test_a_test_mode_reset_takes_hooks_back_to_the_baseline(
    make_service: Callable[..., KeyService], database_url: str
) -> None:
    service = make_service(database_url)
    hooks = _hooks(service)
    kept = baseline.capture(service.store)
    hooks.create(parse_hook(hook_body("http://127.0.0.1:9/x"), hooks.subscribable()), CLI)
    assert len(hooks.list_hooks()) == 1
    baseline.restore(service.store, kept)
    assert hooks.list_hooks() == []


def test_kek_rewrap_re_seals_hook_secrets(
    make_service: Callable[..., KeyService], database_url: str
) -> None:
    """After ``keyrotor kek rewrap`` the old KEK can go: the hook's secret opens with the
    new one alone; a second run re-seals nothing."""
    service = make_service(database_url)
    hooks = _hooks(service)
    made = hooks.create(parse_hook(hook_body("http://127.0.0.1:9/x"), hooks.subscribable()), CLI)
    first = new_kek()
    done = keks.rewrap(service.store, Sealer(first, TEST_KEK))
    assert (done.hooks, done.hooks_total, done.hooks_unopened) == (1, 1, [])
    [found] = hooks.list_hooks()
    assert found.sealed_secret is not None and found.sealed_secret != made.sealed_secret
    assert Sealer(first).open(found.sealed_secret, SECRET_KID, found.id).decode() == SECRET
    assert not Sealer(TEST_KEK).opens(found.sealed_secret, SECRET_KID, found.id)
    assert dataclasses.replace(found, sealed_secret=made.sealed_secret) == made
    again = keks.rewrap(service.store, Sealer(first, TEST_KEK))
    assert (again.hooks, again.hooks_total) == (0, 1)
    stranger = keks.rewrap(service.store, Sealer(new_kek()))
    assert stranger.hooks_unopened == [made.id]
