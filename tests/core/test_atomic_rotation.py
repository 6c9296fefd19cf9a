"""A rotation is one transaction: a crash at any step leaves the old state, on every backend."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from keyrotor.audit import EventQuery
from keyrotor.service import KeyService

STEPS = ["update_keys", "insert_keys", "update_server", "record_event"]


class Crash(Exception):
    """Stands for the process dying at that point of the rotation."""


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_inside_a_rotation_leaves_the_old_state(
    make_service: Callable[..., KeyService],
    database_url: str,
    step: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = make_service(database_url)
    before_keys = service.list_keys("default")
    before_server = service.get_server("default")
    real = KeyService._apply

    def crashing_apply(self, tx, change, *args, **kwargs):  # the real writes, then a crash
        original = getattr(tx, step)

        def then_crash(*args, **kwargs):
            original(*args, **kwargs)
            raise Crash(step)

        monkeypatch.setattr(tx, step, then_crash)
        return real(self, tx, change, *args, **kwargs)

    monkeypatch.setattr(KeyService, "_apply", crashing_apply)
    recorded = service.events(EventQuery(limit=10_000))
    with pytest.raises(Crash):
        service.rotate("default")
    monkeypatch.undo()
    assert service.list_keys("default") == before_keys
    assert service.get_server("default") == before_server
    assert service.events(EventQuery(limit=10_000)) == recorded  # nor its audit record
    after = service.rotate("default")  # and the next rotation works from the old state
    assert [k.status.value for k in after] == ["ACTIVE", "NEXT", "EXPIRED"]
    assert after[0].kid == before_keys[1].kid
