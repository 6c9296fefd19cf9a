"""API tokens' lifecycle in the store (memory, SQLite, PostgreSQL): expiry, revocation and
last use round-trip; a revocation names ``t`` on the change feed, a last use names nothing;
migration 0006 keeps the tokens stored before it, and its downgrade drops what the older
schema could not keep."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, inspect, select

from keyrotor.apitokens import ALL_SCOPES, SCOPE_READ, new_token, new_token_value
from keyrotor.storage import Store, open_store
from keyrotor.storage.sql import SqlStore
from keyrotor.storage.tables import api_tokens
from tests.support import migrate_to

NOW = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    if isinstance(opened, SqlStore):
        opened.migrate()
    yield opened
    opened.close()


def heard(store: Store) -> list[list[str]]:
    """What the store's feed tells this process from now on."""
    seen: list[list[str]] = []
    store.feed.subscribe(seen.append)
    return seen


def test_expiry_revocation_and_last_use_round_trip(store: Store) -> None:
    expiring = new_token("ci", (SCOPE_READ,), NOW, new_token_value(), expires=NOW + timedelta(1))
    plain = new_token("admin", ALL_SCOPES, NOW + timedelta(seconds=1), new_token_value())
    with store.transaction(write=True) as tx:
        tx.insert_token(plain)
        tx.insert_token(expiring)
    with store.transaction() as tx:
        assert tx.get_token(expiring.id) == expiring
        assert tx.find_token(expiring.digest) == expiring
        assert tx.get_token("00Tnone") is None
        assert tx.list_tokens() == [expiring, plain]
    with store.transaction(write=True) as tx:
        assert tx.revoke_token(plain.id, NOW + timedelta(minutes=1)) is True
    with store.transaction(write=True) as tx:  # once only
        assert tx.revoke_token(plain.id, NOW + timedelta(minutes=2)) is False
        assert tx.revoke_token("00Tnone", NOW) is False
    revoked = dataclasses.replace(plain, revoked=NOW + timedelta(minutes=1))
    with store.transaction() as tx:
        assert tx.get_token(plain.id) == revoked
        assert tx.find_token(plain.digest) == revoked
        assert tx.list_tokens() == [expiring, revoked]  # revoked tokens stay stored


def test_a_later_use_replaces_an_earlier_one_never_the_reverse(store: Store) -> None:
    made = new_token("t", ALL_SCOPES, NOW, new_token_value())
    with store.transaction(write=True) as tx:
        tx.insert_token(made)
    later, earlier = NOW + timedelta(minutes=5), NOW + timedelta(minutes=1)
    with store.transaction(write=True) as tx:
        tx.note_token_uses({made.id: later, "00Tnone": later})
    with store.transaction(write=True) as tx:
        tx.note_token_uses({made.id: earlier})  # another replica's older news
        tx.note_token_uses({})
    with store.transaction() as tx:
        found = tx.get_token(made.id)
    assert found is not None and found.last_used == later


def test_revocations_name_t_on_the_feed_and_last_uses_name_nothing(store: Store) -> None:
    made = new_token("t", ALL_SCOPES, NOW, new_token_value())
    with store.transaction(write=True) as tx:
        tx.insert_token(made)
    seen = heard(store)
    with store.transaction(write=True) as tx:
        tx.note_token_uses({made.id: NOW})
    assert seen == []
    with store.transaction(write=True) as tx:
        tx.revoke_token(made.id, NOW)
    assert seen == [["t"]]


def test_a_revocation_rolls_back_with_its_transaction(store: Store) -> None:
    made = new_token("t", ALL_SCOPES, NOW, new_token_value())
    with store.transaction(write=True) as tx:
        tx.insert_token(made)
    with pytest.raises(RuntimeError), store.transaction(write=True) as tx:
        tx.revoke_token(made.id, NOW)
        raise RuntimeError("boom")
    with store.transaction() as tx:
        assert tx.get_token(made.id) == made


# -- migration 0006 -----------------------------------------------------------------------


def test_migration_0006_keeps_tokens_and_its_downgrade_drops_what_0005_cannot_say(
    sql_url: str,
) -> None:
    store = SqlStore(sql_url)
    try:
        migrate_to(store, "0005")
        columns = {c["name"] for c in inspect(store.engine).get_columns("api_tokens")}
        assert not {"expires", "revoked", "last_used"} & columns
        old = {"id": "00Told", "name": "old", "digest": "a" * 64, "scopes": " ".join(ALL_SCOPES)}
        with store.engine.begin() as conn:
            conn.execute(insert(api_tokens).values(**old, created=NOW))
        migrate_to(store, "0006")
        with store.transaction() as tx:
            found = tx.get_token("00Told")
        assert found is not None
        assert (found.expires, found.revoked, found.last_used) == (None, None, None)
        assert found.scopes == ALL_SCOPES and found.created == NOW
        kept = new_token("kept", ALL_SCOPES, NOW, new_token_value())
        expiring = new_token("exp", ALL_SCOPES, NOW, new_token_value(), expires=NOW + timedelta(1))
        revoked = new_token("rev", ALL_SCOPES, NOW, new_token_value())
        with store.transaction(write=True) as tx:
            for token in (kept, expiring, revoked):
                tx.insert_token(token)
            tx.revoke_token(revoked.id, NOW)
            tx.note_token_uses({kept.id: NOW})
        migrate_to(store, "0005", down=True)
        with store.engine.connect() as conn:
            ids = set(conn.execute(select(api_tokens.c.id)).scalars())
        assert ids == {"00Told", kept.id}  # no token comes back to life, or lives for ever
        store.migrate()
        with store.transaction() as tx:
            assert {t.id for t in tx.list_tokens()} == {"00Told", kept.id}
    finally:
        store.close()
