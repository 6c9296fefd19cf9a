"""429 answers are waited out (X-Rate-Limit-Reset - Date + 1 s) and retried, within bounds."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

import okta
from okta.rate_limit import DEFAULT_WAIT, retry_wait

from .conftest import MockServer, fixture, json_response, okta_error

DATE = "Thu, 26 Nov 2026 18:00:00 GMT"
DATE_EPOCH = 1795716000


def rate_limited(wait: int = 4) -> httpx.Response:
    """A 429 E0000047 whose window resets ``wait`` seconds after its Date."""
    return json_response(
        429,
        okta_error("E0000047"),
        Date=DATE,
        X_Rate_Limit_Limit="600",
        X_Rate_Limit_Remaining="0",
        X_Rate_Limit_Reset=str(DATE_EPOCH + wait),
    )


def test_a_429_is_retried_after_the_reset(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer, sleeps: list[float]
) -> None:
    """429 then 200: the client waits Reset - Date + 1 s, resends, and returns the keys."""
    server.queue(rate_limited(wait=4), json_response(200, fixture("keys")))
    keys = keys_api.list_authorization_server_keys("default")
    assert [key.status for key in keys] == ["ACTIVE", "NEXT"]
    assert sleeps == [5.0]
    assert len(server.requests) == 2
    assert server.requests[0].url == server.requests[1].url


def test_a_retried_rotation_resends_its_body(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer, sleeps: list[float]
) -> None:
    """A rate-limited POST was not processed; it is resent with the same body."""
    server.queue(rate_limited(), rate_limited(), json_response(200, fixture("keys_rotated")))
    keys_api.rotate_authorization_server_keys("default", okta.JwkUse())
    assert [r.content for r in server.requests] == [b'{"use":"sig"}'] * 3
    assert sleeps == [5.0, 5.0]


def test_retries_run_out(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer, sleeps: list[float]
) -> None:
    """After max_retries (default 2) retries the 429 raises TooManyRequestsException."""
    server.queue(rate_limited(), rate_limited(), rate_limited())
    with pytest.raises(okta.TooManyRequestsException) as caught:
        keys_api.list_authorization_server_keys("default")
    assert caught.value.status == 429 and caught.value.error_code == "E0000047"
    assert caught.value.headers["x-rate-limit-remaining"] == "0"
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_max_retries_zero_never_retries(
    make_client: Callable[[okta.Configuration], okta.ApiClient],
    configuration: okta.Configuration,
    server: MockServer,
    sleeps: list[float],
) -> None:
    """max_retries=0 raises on the first 429."""
    configuration.max_retries = 0
    server.queue(rate_limited())
    keys_api = okta.AuthorizationServerKeysApi(make_client(configuration))
    with pytest.raises(okta.TooManyRequestsException):
        keys_api.list_authorization_server_keys("default")
    assert sleeps == []


def test_a_wait_over_the_maximum_raises_at_once(
    make_client: Callable[[okta.Configuration], okta.ApiClient],
    configuration: okta.Configuration,
    server: MockServer,
    sleeps: list[float],
) -> None:
    """A 429 asking for longer than max_retry_wait is raised without waiting."""
    configuration.max_retry_wait = 10
    server.queue(rate_limited(wait=60))
    keys_api = okta.AuthorizationServerKeysApi(make_client(configuration))
    with pytest.raises(okta.TooManyRequestsException):
        keys_api.list_authorization_server_keys("default")
    assert sleeps == [] and len(server.requests) == 1


def test_other_errors_are_not_retried(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer, sleeps: list[float]
) -> None:
    """Only 429 is retried: a 503 raises at once."""
    server.queue(json_response(503, {}, Date=DATE, X_Rate_Limit_Reset=str(DATE_EPOCH)))
    with pytest.raises(okta.ServiceException):
        keys_api.list_authorization_server_keys("default")
    assert sleeps == []


def test_the_client_really_sleeps_by_default(
    configuration: okta.Configuration, server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an injected sleep, the wait is time.sleep."""
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    server.queue(rate_limited(wait=0), json_response(200, fixture("keys")))
    with okta.ApiClient(configuration, transport=httpx.MockTransport(server)) as client:
        okta.AuthorizationServerKeysApi(client).list_authorization_server_keys("default")
    assert slept == [1.0]


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"date": DATE, "x-rate-limit-reset": str(DATE_EPOCH + 30)}, 31.0),
        ({"date": DATE, "x-rate-limit-reset": str(DATE_EPOCH)}, 1.0),
        ({"date": DATE, "x-rate-limit-reset": str(DATE_EPOCH - 50)}, 1.0),
        ({"x-rate-limit-reset": str(DATE_EPOCH)}, DEFAULT_WAIT),
        ({"date": DATE}, DEFAULT_WAIT),
        ({"date": "yesterday", "x-rate-limit-reset": "soon"}, DEFAULT_WAIT),
        ({"retry-after": "7"}, 7.0),
        ({}, DEFAULT_WAIT),
    ],
)
def test_retry_wait(headers: dict[str, str], wait: float) -> None:
    """Reset - Date + 1 on the server's clock; Retry-After or 1 s when those are missing."""
    assert retry_wait(headers) == wait
