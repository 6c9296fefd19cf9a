"""Fixtures of the client tests: Okta's JSON examples, and an ApiClient over a mock transport."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import okta

FIXTURES = Path(__file__).parent / "fixtures"
HOST = "https://example.okta.com"
TOKEN = "00aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcd"


def fixture(name: str) -> Any:
    """The JSON document ``fixtures/<name>.json``."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def okta_error(code: str) -> dict[str, Any]:
    """The Okta error body with ``errorCode`` ``code`` (from ``fixtures/errors.json``)."""
    error: dict[str, Any] = fixture("errors")[code]
    return error


def json_response(status: int, payload: Any = None, **headers: str) -> httpx.Response:
    """An answer with a JSON body (or none, for ``payload=None``)."""
    headers = {name.replace("_", "-"): value for name, value in headers.items()}
    if payload is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=payload, headers=headers)


Reply = httpx.Response | Exception


class MockServer:
    """Answers requests with queued replies, in order, and records the requests."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[httpx.Request] = []

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    @property
    def request(self) -> httpx.Request:
        """The last request."""
        return self.requests[-1]


@pytest.fixture
def server() -> MockServer:
    return MockServer()


@pytest.fixture
def sleeps() -> list[float]:
    """The waits the client asked for (it does not really sleep)."""
    return []


@pytest.fixture
def configuration() -> okta.Configuration:
    configuration = okta.Configuration(host=HOST)
    configuration.api_key["apiToken"] = TOKEN
    return configuration


@pytest.fixture
def api_client(
    configuration: okta.Configuration, server: MockServer, sleeps: list[float]
) -> Iterator[okta.ApiClient]:
    transport = httpx.MockTransport(server)
    with okta.ApiClient(configuration, transport=transport, sleep=sleeps.append) as client:
        yield client


@pytest.fixture
def make_client(
    server: MockServer, sleeps: list[float]
) -> Iterator[Callable[[okta.Configuration], okta.ApiClient]]:
    """Builds ApiClients for other configurations, over the same mock server; closes them."""
    clients: list[okta.ApiClient] = []

    def make(configuration: okta.Configuration) -> okta.ApiClient:
        transport = httpx.MockTransport(server)
        clients.append(okta.ApiClient(configuration, transport=transport, sleep=sleeps.append))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def keys_api(api_client: okta.ApiClient) -> okta.AuthorizationServerKeysApi:
    return okta.AuthorizationServerKeysApi(api_client)


@pytest.fixture
def servers_api(api_client: okta.ApiClient) -> okta.AuthorizationServerApi:
    return okta.AuthorizationServerApi(api_client)
