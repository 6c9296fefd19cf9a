"""Property test: no sequence of operations breaks the key invariants.

Creates, manual rotations, emergency revokes, mode switches, activation changes and clock
jumps, in any order, on the real service (real RSA keys) over a real SQLite file: exactly
one ACTIVE key per server; kids and key material never change; statuses only move forward
(REVOKED is terminal); the JWKS holds exactly the published keys, never a revoked one;
retired keys stay in the store.
"""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from keyrotor.clock import ManualClock
from keyrotor.config import Settings
from keyrotor.keys import KeyStatus
from keyrotor.runtime import open_service
from keyrotor.servers import RotationMode, ServerStatus
from keyrotor.service import ServerSpec
from tests.conftest import START, TEST_KEK


class KeyLifecycle(RuleBasedStateMachine):
    @initialize()
    def open(self) -> None:
        self.folder = tempfile.TemporaryDirectory()
        url = f"sqlite:///{Path(self.folder.name) / 'k.db'}"
        self.clock = ManualClock(START)
        self.service = open_service(
            Settings(database_url=url, kek=TEST_KEK), clock=self.clock, migrate=True
        )
        self.service.ensure_default()
        self.ids = ["default"]
        self.seen: dict[str, tuple[str, str, str]] = {}  # kid -> (server, n, e)
        self.rank: dict[str, int] = {}  # kid -> highest status rank seen
        self.revoked: set[str] = set()
        self.shown: dict[str, set[str]] = {}  # server -> kids published at the last check
        self.left: set[str] = set()  # kids once published and then no longer

    def teardown(self) -> None:
        self.service.store.close()
        self.folder.cleanup()

    @rule(mode=st.sampled_from(RotationMode))
    def create(self, mode: RotationMode) -> None:
        if len(self.ids) < 4:
            spec = ServerSpec(name="s", audiences=("a",), rotation_mode=mode)
            self.ids.append(self.service.create_server(spec).id)

    @rule(index=st.integers(0, 3))
    def rotate(self, index: int) -> None:
        self.service.rotate(self.ids[index % len(self.ids)])

    @rule(index=st.integers(0, 3), pick=st.integers(0, 7))
    def revoke(self, index: int, pick: int) -> None:
        """Revoke any stored key: ACTIVE, NEXT, EXPIRED (published or retired), REVOKED."""
        server_id = self.ids[index % len(self.ids)]
        with self.service.store.transaction() as tx:
            stored = sorted(tx.keys(server_id), key=lambda k: k.generation)
        kid = stored[pick % len(stored)].kid
        assert self.service.revoke_key(server_id, kid).status is KeyStatus.REVOKED
        self.revoked.add(kid)

    @rule(index=st.integers(0, 3), mode=st.sampled_from(RotationMode))
    def switch_mode(self, index: int, mode: RotationMode) -> None:
        server = self.service.get_server(self.ids[index % len(self.ids)])
        spec = ServerSpec(name=server.name, audiences=server.audiences, rotation_mode=mode)
        self.service.replace_server(server.id, spec)

    @rule(index=st.integers(0, 3), active=st.booleans())
    def toggle(self, index: int, active: bool) -> None:
        status = ServerStatus.ACTIVE if active else ServerStatus.INACTIVE
        self.service.set_status(self.ids[index % len(self.ids)], status)

    @rule(minutes=st.sampled_from([1, 30, 66, 60 * 24, 60 * 24 * 45, 60 * 24 * 91]))
    def wait(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    @rule()
    def sweep(self) -> None:
        self.service.sweep()

    @invariant()
    def keys_keep_their_invariants(self) -> None:
        for server_id in getattr(self, "ids", []):
            with self.service.store.transaction() as tx:
                stored = tx.keys(server_id)
            statuses = [k.status for k in stored]
            assert statuses.count(KeyStatus.ACTIVE) == 1
            assert statuses.count(KeyStatus.NEXT) <= 1
            for key in stored:
                identity = (key.server_id, key.n, key.e)
                assert self.seen.setdefault(key.kid, identity) == identity
                assert key.status.rank >= self.rank.get(key.kid, 0)
                self.rank[key.kid] = key.status.rank
            assert set(self.rank) >= {k.kid for k in stored}
            assert {k.kid for k in stored if k.status is KeyStatus.REVOKED} == {
                k.kid for k in stored if k.kid in self.revoked
            }
            known = {kid for kid, ident in self.seen.items() if ident[0] == server_id}
            assert known == {k.kid for k in stored}  # nothing ever leaves the store
            self._published_match_jwks(server_id)

    def _published_match_jwks(self, server_id: str) -> None:
        listed = self.service.list_keys(server_id)
        assert listed[0].status is KeyStatus.ACTIVE
        now_shown = {k.kid for k in listed}
        assert not self.revoked & now_shown
        assert not self.left & now_shown  # nothing comes back: retention never revives
        self.left |= self.shown.get(server_id, set()) - now_shown
        self.shown[server_id] = now_shown
        assert self.service.get_server(server_id).kid == listed[0].kid
        if self.service.get_server(server_id).status is ServerStatus.ACTIVE:
            jwks = json.loads(self.service.jwks(server_id).body)
            assert [k["kid"] for k in jwks["keys"]] == [k.kid for k in listed]


KeyLifecycle.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestKeyLifecycle = KeyLifecycle.TestCase
