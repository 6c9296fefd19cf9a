"""Okta's scopes API: create, list, get, replace, delete, and what the discovery lists."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import READ_TOKEN
from tests.support import assert_okta_error
from tests.tokens.conftest import SCOPES

URL = SCOPES.format("default")
NAME_RULE = (
    "name: Required; at most 255 printable characters, without spaces, quotes or backslashes."
)


def test_create_answers_201_with_oktas_defaults(client: TestClient, scoped: dict[str, Any]) -> None:
    assert list(scoped) == [
        "id",
        "name",
        "description",
        "system",
        "metadataPublish",
        "consent",
        "optional",
        "default",
        "_links",
    ]
    assert scoped["id"].startswith("scp") and len(scoped["id"]) == 20
    assert scoped["name"] == "things:read"
    assert scoped["description"] == ""
    assert scoped["system"] is False
    assert scoped["metadataPublish"] == "NO_CLIENTS"
    assert scoped["consent"] == "IMPLICIT"
    assert scoped["default"] is False
    assert scoped["optional"] is False
    assert "displayName" not in scoped  # not set: absent, never null
    assert scoped["_links"] == {
        "self": {
            "href": f"http://testserver{URL}/{scoped['id']}",
            "hints": {"allow": ["GET", "PUT", "DELETE"]},
        }
    }


def test_list_get_replace_delete(client: TestClient, scoped: dict[str, Any]) -> None:
    assert client.get(URL).json() == [scoped]
    assert client.get(f"{URL}/{scoped['id']}").json() == scoped
    body = {
        "name": "things:write",
        "description": "Write things",
        "consent": "REQUIRED",
        "default": True,
        "metadataPublish": "ALL_CLIENTS",
    }
    replaced = client.put(f"{URL}/{scoped['id']}", json=body)
    assert replaced.status_code == 200
    assert replaced.json() == {**scoped, **body}
    deleted = client.delete(f"{URL}/{scoped['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get(URL).json() == []


def test_discovery_lists_only_published_scopes(client: TestClient, public: TestClient) -> None:
    client.post(URL, json={"name": "hidden"})
    client.post(URL, json={"name": "shown", "metadataPublish": "ALL_CLIENTS"})
    document = public.get("/oauth2/default/.well-known/oauth-authorization-server").json()
    assert document["scopes_supported"] == ["shown"]
    assert document["token_endpoint"] == "http://testserver/oauth2/default/v1/token"
    assert document["registration_endpoint"] == "http://testserver/oauth2/v1/clients"
    assert document["grant_types_supported"] == ["client_credentials"]
    assert document["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ]
    absent = ("authorization_endpoint", "userinfo_endpoint", "introspection_endpoint")
    assert not set(absent) & set(document)


def test_scopes_are_per_server(client: TestClient, scoped: dict[str, Any]) -> None:
    other = client.post(
        "/api/v1/authorizationServers", json={"name": "o", "audiences": ["api://o"]}
    ).json()
    url = SCOPES.format(other["id"])
    assert client.get(url).json() == []
    assert client.post(url, json={"name": scoped["name"]}).status_code == 201
    assert_okta_error(
        client.get(f"{url}/{scoped['id']}"),
        404,
        "E0000007",
        f"Not found: Resource not found: {scoped['id']} (OAuth2Scope)",
    )


def test_deleting_the_server_deletes_its_scopes(client: TestClient) -> None:
    server = client.post(
        "/api/v1/authorizationServers", json={"name": "o", "audiences": ["api://o"]}
    ).json()
    base = f"/api/v1/authorizationServers/{server['id']}"
    client.post(SCOPES.format(server["id"]), json={"name": "a"})
    client.post(f"{base}/lifecycle/deactivate")
    assert client.delete(base).status_code == 204
    assert client.get(SCOPES.format(server["id"])).status_code == 404


def test_duplicate_name_is_refused(client: TestClient, scoped: dict[str, Any]) -> None:
    cause = "name: A scope named 'things:read' already exists on this authorization server."
    response = client.post(URL, json={"name": "things:read"})
    assert_okta_error(response, 400, "E0000001", "Api validation failed: scope", [cause])
    other = client.post(URL, json={"name": "other"}).json()
    response = client.put(f"{URL}/{other['id']}", json={"name": "things:read"})
    assert_okta_error(response, 400, "E0000001", "Api validation failed: scope", [cause])
    assert client.put(f"{URL}/{scoped['id']}", json={"name": "things:read"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "causes"),
    [
        ({}, [NAME_RULE]),
        ({"name": ""}, [NAME_RULE]),
        ({"name": "two words"}, [NAME_RULE]),
        ({"name": 'quo"te'}, [NAME_RULE]),
        ({"name": "x" * 256}, [NAME_RULE]),
        ({"name": "okta.users.read"}, ["name: Names starting with 'okta.' are reserved."]),
        (
            {"name": "a", "consent": "SOMETIMES"},
            ["consent: Must be one of IMPLICIT, REQUIRED, FLEXIBLE."],
        ),
        (
            {"name": "a", "metadataPublish": "SOME"},
            ["metadataPublish: Must be one of NO_CLIENTS, ALL_CLIENTS."],
        ),
        ({"name": "a", "default": "yes"}, ["default: Must be true or false."]),
        (
            {"name": "a", "description": 5},
            ["description: Must be a string of at most 1024 characters."],
        ),
        (
            {"name": " ", "default": 1, "consent": None},
            [
                NAME_RULE,
                "default: Must be true or false.",
                "consent: Must be one of IMPLICIT, REQUIRED, FLEXIBLE.",
            ],
        ),
        ([], ["The request body must be a JSON object."]),
    ],
)
def test_invalid_scope_bodies(client: TestClient, body: Any, causes: list[str]) -> None:
    response = client.post(URL, json=body)
    assert_okta_error(response, 400, "E0000001", "Api validation failed: scope", causes)
    assert client.get(URL).json() == []


def test_malformed_json(client: TestClient) -> None:
    response = client.post(URL, content=b"{", headers={"Content-Type": "application/json"})
    assert_okta_error(response, 400, "E0000003", "The request body was not well-formed.")


def test_unknown_server_and_scope(client: TestClient) -> None:
    assert_okta_error(
        client.get(SCOPES.format("ausNope")),
        404,
        "E0000007",
        "Not found: Resource not found: ausNope (AuthorizationServer)",
    )
    for method in ("GET", "PUT", "DELETE"):
        response = client.request(method, f"{URL}/scpNope", json={"name": "a"})
        assert_okta_error(
            response, 404, "E0000007", "Not found: Resource not found: scpNope (OAuth2Scope)"
        )


def test_scopes_are_guarded(public: TestClient, scoped: dict[str, Any]) -> None:
    assert_okta_error(public.get(URL), 401, "E0000011", "Invalid token provided")
    reader = {"Authorization": f"SSWS {READ_TOKEN}"}
    assert public.get(URL, headers=reader).status_code == 200
    denied = "You do not have permission to perform the requested action"
    for method, path in [("POST", URL), ("PUT", f"{URL}/{scoped['id']}"), ("DELETE", URL)]:
        response = public.request(method, path, json={"name": "a"}, headers=reader)
        if method == "DELETE":
            assert response.status_code == 405  # the collection cannot be deleted
            continue
        assert_okta_error(response, 403, "E0000006", denied)
    response = public.delete(f"{URL}/{scoped['id']}", headers=reader)
    assert_okta_error(response, 403, "E0000006", denied)
