"""RFC 7591 registration at /oauth2/v1/clients: the answers and every error, exactly."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from keyrotor.clock import ManualClock
from tests.conftest import READ_TOKEN
from tests.support import assert_okta_error
from tests.tokens.conftest import CLIENTS

MEMBERS = [
    "client_id",
    "client_id_issued_at",
    "client_secret_expires_at",
    "client_name",
    "client_uri",
    "logo_uri",
    "application_type",
    "redirect_uris",
    "response_types",
    "grant_types",
    "token_endpoint_auth_method",
    "dpop_bound_access_tokens",
]


def assert_metadata_error(response: httpx.Response, description: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "invalid_client_metadata", "error_description": description}


def test_register_answers_201_with_the_secret_once(
    client: TestClient, registered: dict[str, Any], clock: ManualClock
) -> None:
    assert list(registered) == [MEMBERS[0], "client_secret", *MEMBERS[1:]]
    assert registered["client_id"].startswith("0oa") and len(registered["client_id"]) == 20
    assert len(registered["client_secret"]) >= 43
    assert registered["client_id_issued_at"] == int(clock().timestamp())
    assert registered["client_secret_expires_at"] == 0
    assert registered["client_name"] == "billing-service"
    assert registered["grant_types"] == ["client_credentials"]
    assert registered["token_endpoint_auth_method"] == "client_secret_basic"
    assert registered["application_type"] == "service"
    assert registered["response_types"] == ["token"]
    assert registered["redirect_uris"] == []
    assert registered["client_uri"] is None and registered["logo_uri"] is None
    assert registered["dpop_bound_access_tokens"] is False
    fetched = client.get(f"{CLIENTS}/{registered['client_id']}")
    assert fetched.status_code == 200
    assert fetched.json() == {k: v for k, v in registered.items() if k != "client_secret"}
    assert fetched.headers["cache-control"] == "no-store"


def test_registration_response_is_not_cached(client: TestClient) -> None:
    response = client.post(CLIENTS, json={"client_name": "x"})
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def test_explicit_metadata_round_trips(client: TestClient) -> None:
    """What Okta's schema has and a service client uses is stored and answered back."""
    body = {
        "client_name": "  poster  ",
        "application_type": "service",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_post",
        "response_types": [],
        "redirect_uris": [],
        "client_uri": "https://poster.example",
        "logo_uri": "https://poster.example/logo.png",
        "policy_uri": "https://poster.example/policy",
        "tos_uri": "https://poster.example/tos",
        "post_logout_redirect_uris": None,
        "frontchannel_logout_session_required": False,
    }
    created = client.post(CLIENTS, json=body).json()
    assert created["client_name"] == "poster"
    assert created["token_endpoint_auth_method"] == "client_secret_post"
    assert created["response_types"] == []
    for name in ("client_uri", "logo_uri", "policy_uri", "tos_uri"):
        assert created[name] == body[name]
    fetched = client.get(f"{CLIENTS}/{created['client_id']}").json()
    assert fetched == {k: v for k, v in created.items() if k != "client_secret"}


def test_list_get_delete(
    client: TestClient, registered: dict[str, Any], clock: ManualClock
) -> None:
    """Oldest first (clients made in the same millisecond: by id)."""
    clock.advance(timedelta(milliseconds=1))
    other = client.post(CLIENTS, json={"client_name": "second"}).json()
    listed = client.get(CLIENTS)
    assert listed.status_code == 200
    assert [c["client_id"] for c in listed.json()] == [
        registered["client_id"],
        other["client_id"],
    ]
    assert all("client_secret" not in c for c in listed.json())
    deleted = client.delete(f"{CLIENTS}/{other['client_id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "content-type" not in deleted.headers
    assert [c["client_id"] for c in client.get(CLIENTS).json()] == [registered["client_id"]]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_unknown_client_is_404(client: TestClient, method: str) -> None:
    response = client.request(method, f"{CLIENTS}/0oaNope")
    assert_okta_error(
        response, 404, "E0000007", "Not found: Resource not found: 0oaNope (OAuth2Client)"
    )


def test_credentials_are_required(public: TestClient) -> None:
    for method, path in [("POST", CLIENTS), ("GET", CLIENTS), ("GET", f"{CLIENTS}/x")]:
        response = public.request(method, path, json={"client_name": "x"})
        assert_okta_error(response, 401, "E0000011", "Invalid token provided")


def test_read_token_reads_but_does_not_register(
    public: TestClient, registered: dict[str, Any]
) -> None:
    headers = {"Authorization": f"SSWS {READ_TOKEN}"}
    assert public.get(CLIENTS, headers=headers).status_code == 200
    denied = "You do not have permission to perform the requested action"
    response = public.post(CLIENTS, json={"client_name": "x"}, headers=headers)
    assert_okta_error(response, 403, "E0000006", denied)
    response = public.delete(f"{CLIENTS}/{registered['client_id']}", headers=headers)
    assert_okta_error(response, 403, "E0000006", denied)


NAME_REQUIRED = "'client_name' is required: a non-empty string of at most 255 characters."


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({}, NAME_REQUIRED),
        ({"client_name": ""}, NAME_REQUIRED),
        ({"client_name": "   "}, NAME_REQUIRED),
        ({"client_name": 7}, NAME_REQUIRED),
        ({"client_name": "x" * 256}, NAME_REQUIRED),
        (
            {"client_name": "x", "grant_types": ["authorization_code"]},
            "Unsupported grant type 'authorization_code': only client_credentials is supported.",
        ),
        (
            {"client_name": "x", "grant_types": ["client_credentials", "refresh_token"]},
            "Unsupported grant type 'refresh_token': only client_credentials is supported.",
        ),
        (
            {"client_name": "x", "grant_types": []},
            "'grant_types' must be a non-empty array of strings.",
        ),
        (
            {"client_name": "x", "grant_types": "client_credentials"},
            "'grant_types' must be a non-empty array of strings.",
        ),
        (
            {"client_name": "x", "token_endpoint_auth_method": "private_key_jwt"},
            "A private_key_jwt client registers its public keys: 'jwks' or 'jwks_uri', "
            "exactly one of them.",
        ),
        (
            {"client_name": "x", "token_endpoint_auth_method": "none"},
            "'token_endpoint_auth_method' must be one of: client_secret_basic, "
            "client_secret_post, private_key_jwt.",
        ),
        (
            {"client_name": "x", "response_types": ["code"]},
            "'response_types' code needs an authorization endpoint, which keyrotor does not "
            "have: a service client has only 'token'.",
        ),
        (
            {"client_name": "x", "application_type": "web"},
            "'application_type' web signs users in through an authorization endpoint, which "
            "keyrotor does not have: register a 'service' client.",
        ),
        (
            {"client_name": "x", "application_type": "native"},
            "'application_type' native signs users in through an authorization endpoint, "
            "which keyrotor does not have: register a 'service' client.",
        ),
        (
            {"client_name": "x", "application_type": "browser"},
            "'application_type' browser signs users in through an authorization endpoint, "
            "which keyrotor does not have: register a 'service' client.",
        ),
        (
            {"client_name": "x", "redirect_uris": ["https://x.example/cb"]},
            "'redirect_uris' must be empty: a service client has no redirect URIs.",
        ),
        (
            {"client_name": "x", "initiate_login_uri": "https://x.example/login"},
            "'initiate_login_uri' is not supported: it is for sign-in flows, which a service "
            "client does not use.",
        ),
        (
            {"client_name": "x", "id_token_encrypted_response_alg": "RSA-OAEP-256"},
            "'id_token_encrypted_response_alg' is not supported: it is for ID tokens, which a "
            "service client does not use.",
        ),
        ({"client_name": "x", "pad": 1}, "Unknown client metadata: 'pad'."),
        (
            {"client_name": "x", "client_id": "0oaMine"},
            "'client_id' is assigned by the server and cannot be chosen.",
        ),
        (
            {"client_name": "x", "client_secret": "mine"},
            "'client_secret' cannot be chosen: the server generates it "
            "(POST /oauth2/v1/clients/{clientId}/lifecycle/newSecret).",
        ),
        (
            {"client_name": "x", "client_id_issued_at": 1},
            "'client_id_issued_at' is set by the server and cannot be sent.",
        ),
        (
            {"client_name": "x", "jwks_uri": "https://x.example/jwks"},
            "'jwks_uri' is used only with token_endpoint_auth_method private_key_jwt.",
        ),
        ({"client_name": "x", "logo_uri": "logo.png"}, "'logo_uri' must be an absolute URL."),
        (
            {"client_name": "x", "dpop_bound_access_tokens": "yes"},
            "'dpop_bound_access_tokens' must be true or false.",
        ),
        ([], "The request body must be a JSON object."),
        ("client", "The request body must be a JSON object."),
    ],
)
def test_invalid_metadata(client: TestClient, body: Any, description: str) -> None:
    assert_metadata_error(client.post(CLIENTS, json=body), description)
    assert client.get(CLIENTS).json() == []


def test_empty_body(client: TestClient) -> None:
    response = client.post(CLIENTS, content=b"")
    assert_metadata_error(response, "The request body must be a JSON object.")


def test_body_that_is_not_json(client: TestClient) -> None:
    response = client.post(
        CLIENTS, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_metadata_error(response, "The request body was not well-formed.")


def test_body_of_another_media_type(client: TestClient) -> None:
    response = client.post(
        CLIENTS,
        content=b"client_name=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_metadata_error(
        response,
        "Bad request.  Accept and/or Content-Type headers likely do not match supported values.",
    )


def test_body_too_large(client: TestClient) -> None:
    body = json.dumps({"client_name": "x", "client_uri": "https://x.example/" + "x" * 70_000})
    response = client.post(CLIENTS, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text  # too large: Okta's body, as elsewhere
    assert response.json()["errorCauses"] == [
        {"errorSummary": "The request body is larger than 65536 bytes."}
    ]
