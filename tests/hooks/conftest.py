"""Fixtures of the event hook tests: the app in-process over any backend, with hooks that
may (``test_mode``) or may not send to loopback, and a receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from keyrotor.apitokens import ALL_SCOPES
from keyrotor.config import Settings
from keyrotor.hook_service import HookOptions, HookService
from keyrotor.hooks import RetryPolicy
from keyrotor.http import create_app
from keyrotor.service import KeyService
from tests.conftest import ADMIN_TOKEN, TEST_KEK
from tests.hooks.receiver import Receiver, receiver

SECRET = "hook-shared-secret-9f8e7d6c5b4a"
RETRY = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(seconds=60), max_attempts=3)


def hook_body(uri: str, events: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A valid ``EventHook`` body with a shared secret and one custom header."""
    return {
        "name": "Key events",
        "events": {"type": "EVENT_TYPE", "items": events or ["app.oauth2.as.key.rollover"]},
        "channel": {
            "type": "HTTP",
            "version": "1.0.0",
            "config": {
                "uri": uri,
                "headers": [{"key": "X-Other-Header", "value": "other-value"}],
                "authScheme": {"type": "HEADER", "key": "Authorization", "value": SECRET},
            },
        },
        **extra,
    }


@pytest.fixture
def hook_service(service: KeyService) -> HookService:
    """Hooks as `serve --test-mode` has them: loopback receivers allowed."""
    options = HookOptions(loopback_ok=True, retry=RETRY)
    return HookService(service.store, service.factory.sealer, service.clock, options)


@pytest.fixture
def make_client(
    service: KeyService,
) -> Iterator[Callable[..., TestClient]]:
    """The app in-process; ``test_mode`` lets hooks send to loopback (as
    `serve --test-mode`)."""
    service.create_token("admin", ALL_SCOPES, ADMIN_TOKEN)
    opened: list[TestClient] = []

    def make(test_mode: bool = True) -> TestClient:
        settings = Settings(database_url="memory://", kek=TEST_KEK)
        app = create_app(service, settings, sweep=False)
        options = HookOptions(loopback_ok=test_mode, retry=RETRY)
        app.state.hooks = HookService(service.store, service.factory.sealer, service.clock, options)
        client = TestClient(app, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"})
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def hook_receiver() -> Iterator[Receiver]:
    with receiver() as found:
        yield found
