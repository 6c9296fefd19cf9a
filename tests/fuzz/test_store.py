"""The fuzzing's "a refused request changes nothing" is only as good as its fingerprint:
it sees a change of state on SQLite and PostgreSQL, and not a token's last use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from keyrotor.apitokens import ALL_SCOPES
from keyrotor.clock import ManualClock
from keyrotor.servers import ServerSpec
from keyrotor.service import KeyService
from tests.fuzz.store import Store


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_fingerprint_sees_every_change_of_state(
    backend: str,
    make_service: Callable[..., KeyService],
    clock: ManualClock,
    request: pytest.FixtureRequest,
    tmp_path: object,
) -> None:
    url = f"sqlite:///{tmp_path}/k.db"
    if backend == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
    service = make_service(url)
    store = Store(url)
    try:
        service.create_token("fuzz", ALL_SCOPES, "00fuzz-token-0123456789abcdefghijklmnop")
        before = store.fingerprint()
        assert store.fingerprint() == before  # stable
        clock.advance(timedelta(minutes=1))
        service.authenticate("00fuzz-token-0123456789abcdefghijklmnop")
        service.api_tokens.flush_uses()  # a last use noted: no change of state
        assert store.fingerprint() == before
        made = service.create_server(ServerSpec(name="fp", audiences=("api://fp",)))
        after_create = store.fingerprint()
        assert after_create != before
        service.rotate(made.id)
        assert store.fingerprint() != after_create
        assert store.counts()["auth_servers"] >= 2
    finally:
        store.close()
