"""Authentication, scopes, rate limits, Okta's headers, and malformed requests."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from keyrotor.config import MAX_BODY_BYTES, Settings
from keyrotor.http import create_app
from keyrotor.service import KeyService
from tests.conftest import ADMIN_TOKEN, READ_TOKEN
from tests.support import assert_okta_error

KEYS = "/api/v1/authorizationServers/default/credentials/keys"
ROTATE = "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate"


@pytest.mark.parametrize(
    "header",
    [None, "", "SSWS", "SSWS ", "SSWS wrong", "Bearer nope", "Basic YWJjOmRlZg==", "00x"],
)
def test_missing_or_unknown_credentials_are_401(client: TestClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    client.headers.pop("Authorization")
    response = client.get(KEYS, headers=headers)
    assert_okta_error(response, 401, "E0000011", "Invalid token provided")


@pytest.mark.parametrize(
    "header", [f"SSWS {ADMIN_TOKEN}", f"SSWS{ADMIN_TOKEN}", f"ssws  {ADMIN_TOKEN}"]
)
def test_ssws_with_and_without_the_space(client: TestClient, header: str) -> None:
    """Okta's Python SDK 3.4.6 sends `SSWS<token>` without a space."""
    assert client.get(KEYS, headers={"Authorization": header}).status_code == 200


def test_read_scope_cannot_rotate_or_create(client: TestClient) -> None:
    reader = {"Authorization": f"SSWS {READ_TOKEN}"}
    assert client.get(KEYS, headers=reader).status_code == 200
    for response in (
        client.post(ROTATE, json={"use": "sig"}, headers=reader),
        client.post(
            "/api/v1/authorizationServers", json={"name": "x", "audiences": ["a"]}, headers=reader
        ),
    ):
        assert_okta_error(
            response, 403, "E0000006", "You do not have permission to perform the requested action"
        )


def test_management_responses_carry_oktas_headers(client: TestClient) -> None:
    for response in (client.get(KEYS), client.get(f"{KEYS}/nope")):
        assert response.headers["cache-control"] == "no-cache, no-store"
        assert response.headers["x-okta-request-id"]
        assert response.headers["date"].endswith("GMT")
        assert int(response.headers["x-rate-limit-limit"]) == 600
        assert int(response.headers["x-rate-limit-remaining"]) < 600
        assert int(response.headers["x-rate-limit-reset"]) > 1_700_000_000


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/nothing"), ("PATCH", KEYS)])
def test_unrouted_management_answers_carry_rate_limit_headers(
    client: TestClient, method: str, path: str
) -> None:
    """404s and 405s no route handled still show the caller's quota, without spending it."""
    first = client.request(method, path)
    second = client.request(method, path)
    assert first.status_code in (404, 405)
    assert first.headers["x-rate-limit-limit"] == "600"
    assert first.headers["x-rate-limit-remaining"] == second.headers["x-rate-limit-remaining"]
    assert first.headers["x-rate-limit-reset"].isdigit()


def test_request_ids_are_unique(client: TestClient) -> None:
    ids = {client.get(KEYS).headers["x-okta-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_rate_limit_answers_429_with_reset_and_date(service: KeyService) -> None:
    """Over the limit: E0000047 with the headers the SDK needs to wait and retry."""
    service.create_token("admin", ("okta.authorizationServers.read",), ADMIN_TOKEN)
    app = create_app(service, Settings(database_url="memory://", rate_limit=3), sweep=False)
    with TestClient(app, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"}) as client:
        remaining = [client.get(KEYS).headers["x-rate-limit-remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        response = client.get(KEYS)
        assert_okta_error(
            response, 429, "E0000047", "API call exceeded rate limit due to too many requests."
        )
        assert response.headers["x-rate-limit-remaining"] == "0"
        assert response.headers["x-rate-limit-reset"].isdigit()
        assert response.headers["date"]


def test_wrong_content_type_is_e0000021(client: TestClient) -> None:
    response = client.post(
        ROTATE, content=b"use=sig", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_okta_error(
        response,
        400,
        "E0000021",
        "Bad request.  Accept and/or Content-Type headers likely do not match supported values.",
    )


def test_accept_that_rules_out_json_is_e0000021(client: TestClient) -> None:
    response = client.get(KEYS, headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "E0000021"
    assert client.get(KEYS, headers={"Accept": "text/html, */*;q=0.1"}).status_code == 200


def test_oversized_body_is_refused_and_changes_nothing(client: TestClient) -> None:
    before = client.get(KEYS).json()
    body = b'{"use":"sig","pad":"' + b"x" * MAX_BODY_BYTES + b'"}'
    response = client.post(ROTATE, content=body, headers={"Content-Type": "application/json"})
    assert_okta_error(
        response,
        413,
        "E0000001",
        "Api validation failed: body",
        [f"The request body is larger than {MAX_BODY_BYTES} bytes."],
    )
    assert client.get(KEYS).json() == before


def test_unsupported_method_is_e0000022(client: TestClient) -> None:
    response = client.patch(KEYS)
    assert_okta_error(
        response, 405, "E0000022", "The endpoint does not support the provided HTTP method"
    )


def test_unknown_path_is_an_okta_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing/here")
    assert_okta_error(
        response, 404, "E0000007", "Not found: Resource not found: /api/v1/nothing/here (Resource)"
    )


def test_an_unexpected_failure_is_an_okta_body_without_a_trace(
    client: TestClient, service: KeyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a bug answers in Okta's format, and says nothing of the code."""

    def broken(server_id: str) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "peek", lambda server_id: None)
    monkeypatch.setattr(service, "snapshot", broken)
    with TestClient(
        client.app, raise_server_exceptions=False, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"}
    ) as raw:
        response = raw.get(KEYS)
    assert response.status_code == 500
    assert response.json()["errorCode"] == "E0000009"
    assert "secret" not in response.text and "Traceback" not in response.text
