"""The storage contract: what every backend (memory, SQLite, PostgreSQL) promises the service.

Each test runs once per backend through the ``database_url`` fixture; the SQL backends run
on a freshly migrated schema. Keys here carry fake material (no RSA generation): the store
never looks inside it.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from keyrotor.apitokens import ALL_SCOPES, SCOPE_READ, new_token
from keyrotor.keys import KeyStatus, SigningKey
from keyrotor.servers import (
    AuthorizationServer,
    IssuerMode,
    RotationMode,
    ServerStatus,
    new_server_id,
)
from keyrotor.storage import Conflict, Store, open_store
from keyrotor.storage.sql import SqlStore

NOW = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)


class Boom(Exception):
    """Raised inside a transaction to make it roll back."""


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    if isinstance(opened, SqlStore):
        opened.migrate()
    yield opened
    opened.close()


def server(name: str = "test", *audiences: str, **changes: object) -> AuthorizationServer:
    made = AuthorizationServer(
        id=new_server_id(),
        name=name,
        audiences=audiences or ("api://test",),
        created=NOW,
        last_updated=NOW,
        rotation_mode=RotationMode.AUTO,
        last_rotated=NOW,
        next_rotation=NOW + timedelta(days=90),
        description="a server",
        kid="kid-" + secrets.token_hex(4),
    )
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def key(server_id: str, status: KeyStatus, at: datetime = NOW) -> SigningKey:
    return SigningKey(
        kid=secrets.token_urlsafe(32),
        server_id=server_id,
        status=status,
        n=secrets.token_urlsafe(256),
        e="AQAB",
        created=at,
        sealed_private=secrets.token_bytes(64),
        activated=at if status is KeyStatus.ACTIVE else None,
    )


def add(store: Store, *servers: AuthorizationServer) -> None:
    with store.transaction(write=True) as tx:
        for s in servers:
            tx.insert_server(s)


def keys_of(store: Store, server_id: str) -> dict[str, SigningKey]:
    with store.transaction() as tx:
        return {k.kid: k for k in tx.keys(server_id)}


def ids(store: Store, q: str | None = None, after: int | None = None) -> list[str]:
    with store.transaction() as tx:
        return [s.id for _, s in tx.list_servers(q, 100, after)]


# -- servers ------------------------------------------------------------------------------


def test_a_server_reads_back_as_it_was_written(store: Store) -> None:
    """Every field round-trips, timestamps as aware UTC datetimes to the microsecond."""
    made = server("Payments", "api://payments", "api://billing", issuer_mode=IssuerMode.DYNAMIC)
    add(store, made)
    with store.transaction() as tx:
        assert tx.get_server(made.id) == made
        assert tx.get_server(made.id, lock=True) == made
        found = tx.get_server(made.id)
    assert found is not None
    assert found.created.tzinfo is not None
    assert found.created.utcoffset() == timedelta(0)


def test_an_unknown_server_is_none(store: Store) -> None:
    """A missing id answers ``None`` (locked or not), never an error."""
    with store.transaction() as tx:
        assert tx.get_server("aus-nobody") is None
        assert tx.get_server("aus-nobody", lock=True) is None


def test_a_second_server_with_the_same_id_is_a_conflict(store: Store) -> None:
    """Two replicas creating one id: the second insert raises ``Conflict``."""
    made = server()
    add(store, made)
    with pytest.raises(Conflict):
        add(store, dataclasses.replace(made, name="other"))
    with store.transaction() as tx:
        assert tx.get_server(made.id) == made


def test_update_replaces_every_field(store: Store) -> None:
    """``update_server`` writes the whole server; the others are untouched."""
    made, other = server("one"), server("two")
    add(store, made, other)
    later = NOW + timedelta(hours=1)
    changed = dataclasses.replace(
        made,
        name="renamed",
        audiences=("api://new",),
        status=ServerStatus.INACTIVE,
        rotation_mode=RotationMode.MANUAL,
        next_rotation=None,
        last_updated=later,
        version=made.version + 1,
    )
    with store.transaction(write=True) as tx:
        tx.update_server(changed)
    with store.transaction() as tx:
        assert tx.get_server(made.id) == changed
        assert tx.get_server(other.id) == other


def test_delete_removes_the_server_and_its_keys(store: Store) -> None:
    """Deleting a server deletes its keys too; other servers keep theirs."""
    gone, kept = server("gone"), server("kept")
    add(store, gone, kept)
    with store.transaction(write=True) as tx:
        tx.insert_keys([key(gone.id, KeyStatus.ACTIVE), key(gone.id, KeyStatus.NEXT)])
        tx.insert_keys([key(kept.id, KeyStatus.ACTIVE)])
    with store.transaction(write=True) as tx:
        tx.delete_server(gone.id)
    with store.transaction() as tx:
        assert tx.get_server(gone.id) is None
        assert tx.keys(gone.id) == []
        assert len(tx.keys(kept.id)) == 1
    assert ids(store) == [kept.id]


# -- listing: order, cursor, q ------------------------------------------------------------


def test_servers_list_in_creation_order_with_growing_positions(store: Store) -> None:
    """Positions grow with creation; they are the cursor for ``after``."""
    made = [server(f"s{i}") for i in range(5)]
    for s in made:
        add(store, s)
    with store.transaction() as tx:
        rows = tx.list_servers(None, 100, None)
    assert [s.id for _, s in rows] == [s.id for s in made]
    positions = [p for p, _ in rows]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)


def test_cursor_pagination_walks_every_server_once(store: Store) -> None:
    """Pages of ``limit`` after the last position seen cover every server exactly once."""
    made = [server(f"s{i}") for i in range(7)]
    add(store, *made)
    seen: list[str] = []
    after = None
    while True:
        with store.transaction() as tx:
            page = tx.list_servers(None, 3, after)
        seen += [s.id for _, s in page]
        if len(page) < 3:
            break
        after = page[-1][0]
    assert seen == [s.id for s in made]


def test_a_deleted_server_does_not_break_the_cursor(store: Store) -> None:
    """Positions are stable: deleting the server at the cursor skips nothing after it."""
    made = [server(f"s{i}") for i in range(4)]
    add(store, *made)
    with store.transaction() as tx:
        first_two = tx.list_servers(None, 2, None)
    with store.transaction(write=True) as tx:
        tx.delete_server(made[1].id)
    assert ids(store, after=first_two[-1][0]) == [made[2].id, made[3].id]


def test_q_matches_name_or_audience_case_insensitively(store: Store) -> None:
    """``q`` is a case-insensitive substring of the name or of any audience."""
    pay = server("Payments API", "api://pay")
    bill = server("Billing", "https://Billing.example.com", "api://ledger")
    other = server("Other", "api://other")
    add(store, pay, bill, other)
    assert ids(store, "payments") == [pay.id]
    assert ids(store, "PAYMENTS api") == [pay.id]
    assert ids(store, "LEDGER") == [bill.id]
    assert ids(store, "billing.EXAMPLE") == [bill.id]
    assert ids(store, "api") == [pay.id, bill.id, other.id]
    assert ids(store, "nothing-like-this") == []


def test_q_finds_non_ascii_names_and_audiences(store: Store) -> None:
    """Non-ASCII text is searched as written (audiences are not stored \\u-escaped)."""
    cafe = server("Café", "api://crème-brûlée")
    add(store, cafe, server("Cafe"))
    assert ids(store, "Café") == [cafe.id]
    assert ids(store, "brûlée") == [cafe.id]


def test_q_wildcards_are_literal(store: Store) -> None:
    """``%``, ``_`` and ``\\`` in ``q`` match themselves, not anything."""
    percent = server("100% uptime")
    under = server("snake_case")
    slash = server("back\\slash")
    plain = server("plain")
    add(store, percent, under, slash, plain)
    assert ids(store, "%") == [percent.id]
    assert ids(store, "_") == [under.id]
    assert ids(store, "\\") == [slash.id]


def test_q_combines_with_the_cursor_and_the_limit(store: Store) -> None:
    """Filtering, then paging: the cursor is a position among all servers."""
    made = [server(f"match {i}" if i % 2 else f"skip {i}") for i in range(8)]
    add(store, *made)
    matching = [s.id for s in made if s.name.startswith("match")]
    with store.transaction() as tx:
        first = tx.list_servers("match", 2, None)
        rest = tx.list_servers("match", 10, first[-1][0])
    assert [s.id for _, s in first] + [s.id for _, s in rest] == matching


# -- keys ---------------------------------------------------------------------------------


def test_keys_read_back_with_their_material(store: Store) -> None:
    """Inserted keys come back whole, and only for their own server."""
    one, two = server(), server()
    add(store, one, two)
    active, pending = key(one.id, KeyStatus.ACTIVE), key(one.id, KeyStatus.NEXT)
    with store.transaction(write=True) as tx:
        tx.insert_keys([active, pending])
        tx.insert_keys([])
        tx.insert_keys([key(two.id, KeyStatus.ACTIVE)])
    assert keys_of(store, one.id) == {active.kid: active, pending.kid: pending}


def test_update_keys_changes_status_and_timestamps_only(store: Store) -> None:
    """A rotation, in the service's order: ACTIVE leaves first, then NEXT enters ACTIVE."""
    made = server()
    add(store, made)
    active, pending = key(made.id, KeyStatus.ACTIVE), key(made.id, KeyStatus.NEXT)
    with store.transaction(write=True) as tx:
        tx.insert_keys([active, pending])
    later = NOW + timedelta(days=1)
    expired, promoted = (
        active.advance(KeyStatus.EXPIRED, later),
        pending.advance(KeyStatus.ACTIVE, later),
    )
    fresh = key(made.id, KeyStatus.NEXT, later)
    with store.transaction(write=True) as tx:
        tx.update_keys([expired, promoted])
        tx.insert_keys([fresh])
    found = keys_of(store, made.id)
    assert found == {expired.kid: expired, promoted.kid: promoted, fresh.kid: fresh}
    assert found[expired.kid].n == active.n


def test_a_kid_is_unique(store: Store) -> None:
    """The same kid twice is a ``Conflict``."""
    made = server()
    add(store, made)
    active = key(made.id, KeyStatus.ACTIVE)
    with store.transaction(write=True) as tx:
        tx.insert_keys([active])
    with pytest.raises(Conflict), store.transaction(write=True) as tx:
        tx.insert_keys([dataclasses.replace(active, status=KeyStatus.EXPIRED)])


@pytest.mark.parametrize("status", [KeyStatus.ACTIVE, KeyStatus.NEXT])
def test_a_second_active_or_next_key_is_refused(store: Store, status: KeyStatus) -> None:
    """One ACTIVE and at most one NEXT key per server, enforced by the store itself."""
    made, other = server(), server()
    add(store, made, other)
    with store.transaction(write=True) as tx:
        tx.insert_keys([key(made.id, status), key(other.id, status)])
    with pytest.raises(Conflict), store.transaction(write=True) as tx:
        tx.insert_keys([key(made.id, status)])
    assert [k.status for k in keys_of(store, made.id).values()] == [status]


def test_promoting_next_before_expiring_active_is_refused(store: Store) -> None:
    """Two ACTIVE keys never exist, not even inside a transaction: the order matters."""
    made = server()
    add(store, made)
    active, pending = key(made.id, KeyStatus.ACTIVE), key(made.id, KeyStatus.NEXT)
    with store.transaction(write=True) as tx:
        tx.insert_keys([active, pending])
    with pytest.raises(Conflict), store.transaction(write=True) as tx:
        tx.update_keys([pending.advance(KeyStatus.ACTIVE, NOW)])
    assert keys_of(store, made.id) == {active.kid: active, pending.kid: pending}


# -- tokens -------------------------------------------------------------------------------


def test_tokens_are_found_by_digest_and_listed_oldest_first(store: Store) -> None:
    """Only the digest is stored; an unknown digest is ``None``."""
    older = new_token("admin", ALL_SCOPES, NOW, "00" + "a" * 40)
    newer = new_token("reader", (SCOPE_READ,), NOW + timedelta(seconds=1), "00" + "b" * 40)
    with store.transaction(write=True) as tx:
        tx.insert_token(newer)
        tx.insert_token(older)
    with store.transaction() as tx:
        assert tx.find_token(older.digest) == older
        assert tx.find_token("0" * 64) is None
        assert tx.list_tokens() == [older, newer]


def test_a_token_digest_is_unique(store: Store) -> None:
    """The same token value registered twice is a ``Conflict``."""
    value = "00" + "c" * 40
    with store.transaction(write=True) as tx:
        tx.insert_token(new_token("one", ALL_SCOPES, NOW, value))
    with pytest.raises(Conflict), store.transaction(write=True) as tx:
        tx.insert_token(new_token("two", ALL_SCOPES, NOW, value))
    with store.transaction() as tx:
        assert [t.name for t in tx.list_tokens()] == ["one"]


# -- transactions -------------------------------------------------------------------------


def test_an_exception_rolls_back_every_write_of_the_transaction(store: Store) -> None:
    """A transaction that raises leaves the store exactly as it was."""
    made = server("before")
    add(store, made)
    active = key(made.id, KeyStatus.ACTIVE)
    with store.transaction(write=True) as tx:
        tx.insert_keys([active])
    with pytest.raises(Boom), store.transaction(write=True) as tx:
        tx.update_server(dataclasses.replace(made, name="after"))
        tx.insert_server(server("new"))
        tx.update_keys([active.advance(KeyStatus.EXPIRED, NOW)])
        tx.insert_token(new_token("t", ALL_SCOPES, NOW, "00" + "d" * 40))
        raise Boom
    with store.transaction() as tx:
        assert tx.get_server(made.id) == made
        assert tx.keys(made.id) == [active]
        assert tx.list_tokens() == []
    assert ids(store) == [made.id]


def test_a_conflict_rolls_back_the_writes_before_it(store: Store) -> None:
    """A refused write undoes the whole transaction, not just itself."""
    made = server()
    add(store, made)
    with store.transaction(write=True) as tx:
        tx.insert_keys([key(made.id, KeyStatus.ACTIVE)])
    fresh = server("fresh")
    with pytest.raises(Conflict), store.transaction(write=True) as tx:
        tx.insert_server(fresh)
        tx.insert_keys([key(made.id, KeyStatus.ACTIVE)])
    with store.transaction() as tx:
        assert tx.get_server(fresh.id) is None


def test_the_store_answers_its_health_check(store: Store) -> None:
    """``check()`` returns quietly while the store is reachable."""
    store.check()
