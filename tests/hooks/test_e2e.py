"""End to end: a real ``keyrotor serve --test-mode`` process and a real receiver on
127.0.0.1. A rotation reaches the receiver with the shared secret, again after the
receiver failed once; moving the server's clock into the notice window delivers the
upcoming-rotation warning exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keyrotor.testing.server import KeyrotorServer
from tests.hooks.conftest import SECRET, hook_body
from tests.hooks.receiver import receiver

ROLLOVER = "app.oauth2.as.key.rollover"
UPCOMING = "keyrotor.key.rotation.upcoming"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[KeyrotorServer]:
    args = ("--rotation-days", "30", "--rotation-notice", "7d", "--hook-retry-base", "0.2")
    started = KeyrotorServer.start(tmp_path / "serve", args=args)
    try:
        yield started
    finally:
        started.stop()


def test_rotation_and_its_notice_reach_a_real_receiver(server: KeyrotorServer) -> None:
    with receiver(failures=1) as got:
        made = server.admin(
            "POST", "/api/v1/eventHooks", json=hook_body(got.url, [ROLLOVER, UPCOMING])
        )
        assert made.status_code == 200, made.text
        hook_id = made.json()["id"]
        verified = server.admin("POST", f"/api/v1/eventHooks/{hook_id}/lifecycle/verify")
        assert verified.json()["verificationStatus"] == "VERIFIED", verified.text

        server.rotate()
        failed, delivered = got.wait_for(ROLLOVER, count=2)  # a 500 first, then again
        assert failed == delivered
        assert delivered["debugContext"]["debugData"]["kid"] == server.active_kid()
        posts = got.posts()
        assert posts[0].body["eventId"] == posts[1].body["eventId"]
        assert all(p.headers["Authorization"] == SECRET for p in posts)

        signing = server.admin("GET", "/api/v1/authorizationServers/default").json()
        rotation = datetime.fromisoformat(signing["credentials"]["signing"]["nextRotation"])
        server.set_time(rotation - timedelta(days=7) + timedelta(hours=1))
        [warning] = _of_default(got.wait_for(UPCOMING), count=1)
        data = warning["debugContext"]["debugData"]
        assert data["rotationAt"] == signing["credentials"]["signing"]["nextRotation"]
        assert data["kid"] == server.active_kid()
        server.advance(days=1)
        server.advance(hours=1)
        time.sleep(2.5)  # the worker passes at least twice meanwhile
        assert len(_of_default(got.events(UPCOMING))) == 1
        assert len(got.events(ROLLOVER)) == 2

    logs = server.admin("GET", "/api/v1/logs", params={"filter": f'eventType eq "{UPCOMING}"'})
    assert len(_of_default(logs.json())) == 1
    assert SECRET not in logs.text
    server.stop()
    assert SECRET not in server.output()
    database = Path(server.database.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert SECRET.encode() not in stored


def _of_default(events: list[dict[str, Any]], count: int | None = None) -> list[dict[str, Any]]:
    found = [e for e in events if e["target"][0]["id"] == "default"]
    if count is not None:
        assert len(found) == count, events
    return found
