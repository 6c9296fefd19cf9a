"""Authorization servers: create, list with paging, get, replace, lifecycle, delete."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from keyrotor.clock import ManualClock
from tests.support import assert_okta_error, fixture, shape

SERVERS = "/api/v1/authorizationServers"
SERVER_MEMBERS = [
    "id",
    "name",
    "description",
    "audiences",
    "issuer",
    "issuerMode",
    "status",
    "created",
    "lastUpdated",
    "credentials",
    "_links",
]


def create(client: TestClient, name: str = "python_sdk_test", **extra: object) -> dict:
    body = {"name": name, "description": "Test Auth Server", "audiences": ["api://default"]}
    response = client.post(SERVERS, json={**body, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_answers_201_with_oktas_shape(client: TestClient) -> None:
    """Member order, link names and value types are those of Okta's recorded response, plus
    the ``scopes`` link Okta's current responses carry."""
    server = create(client)
    assert list(server) == SERVER_MEMBERS
    links = server["_links"]
    assert links["scopes"] == {
        "href": f"http://testserver{SERVERS}/{server['id']}/scopes",
        "hints": {"allow": ["GET"]},
    }
    recorded = {k: v for k, v in server.items() if k != "_links"}
    recorded["_links"] = {k: v for k, v in links.items() if k != "scopes"}
    assert shape(recorded) == shape(fixture("okta_server_created"))
    assert re.fullmatch(r"aus[A-Za-z0-9]{17}", server["id"])
    assert server["issuer"] == f"http://testserver/oauth2/{server['id']}"
    assert server["created"] == "2026-01-01T12:00:00.000Z"
    signing = server["credentials"]["signing"]
    assert list(signing) == ["rotationMode", "lastRotated", "nextRotation", "kid"]
    assert signing["nextRotation"] == "2026-04-01T12:00:00.000Z"
    assert list(links) == ["scopes", "rotateKey", "metadata", "keys", "self", "deactivate"]


def test_created_server_has_active_and_next_keys(client: TestClient) -> None:
    server = create(client)
    keys = client.get(f"{SERVERS}/{server['id']}/credentials/keys").json()
    assert [k["status"] for k in keys] == ["ACTIVE", "NEXT"]
    assert keys[0]["kid"] == server["credentials"]["signing"]["kid"]


def test_rotation_mode_on_create_is_honoured(client: TestClient) -> None:
    """Okta ignores it; keyrotor keeps it (contract section 3)."""
    server = create(client, credentials={"signing": {"rotationMode": "MANUAL"}})
    assert server["credentials"]["signing"]["rotationMode"] == "MANUAL"
    assert "nextRotation" not in server["credentials"]["signing"]


@pytest.mark.parametrize(
    ("body", "causes"),
    [
        ({"audiences": ["a"]}, ["name: The field cannot be left blank (at most 255 characters)."]),
        ({"name": "x"}, ["audiences: Provide at least one audience (a non-empty string)."]),
        (
            {"name": "x", "audiences": []},
            ["audiences: Provide at least one audience (a non-empty string)."],
        ),
        (
            {"name": "x", "audiences": ["a"], "issuerMode": "NOPE"},
            ["issuerMode: Must be one of ORG_URL, CUSTOM_URL, DYNAMIC."],
        ),
        (
            {"name": "x", "audiences": ["a"], "credentials": {"signing": {"rotationMode": "X"}}},
            ["rotationMode: Must be one of AUTO, MANUAL."],
        ),
        (
            {"name": "", "audiences": "a"},
            [
                "name: The field cannot be left blank (at most 255 characters).",
                "audiences: Provide at least one audience (a non-empty string).",
            ],
        ),
    ],
)
def test_create_validation_names_every_problem(
    client: TestClient, body: dict, causes: list[str]
) -> None:
    response = client.post(SERVERS, json=body)
    assert_okta_error(
        response, 400, "E0000001", "Api validation failed: authorizationServer", causes
    )
    assert len(client.get(SERVERS).json()) == 1  # nothing was created


def test_list_pages_with_link_headers(client: TestClient) -> None:
    """limit/after page through servers; Link rel=next until the last page."""
    made = [create(client, f"s{i}")["id"] for i in range(5)]
    seen, url, pages = [], f"{SERVERS}?limit=2", 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += [s["id"] for s in response.json()]
        links = dict(
            (rel, href)
            for href, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["link"])
        )
        assert "self" in links
        url = links.get("next", "").replace("http://testserver", "")
        pages += 1
    assert seen == ["default", *made]
    assert pages == 3


def test_list_filters_by_name_and_audience(client: TestClient) -> None:
    create(client, "payments", audiences=["api://pay"])
    create(client, "orders", audiences=["api://orders"])
    assert [s["name"] for s in client.get(f"{SERVERS}?q=pay").json()] == ["payments"]
    assert [s["name"] for s in client.get(f"{SERVERS}?q=ORDERS").json()] == ["orders"]
    assert client.get(f"{SERVERS}?q=100%25").json() == []


@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "limit=abc", "after=xyz"])
def test_list_refuses_bad_paging(client: TestClient, query: str) -> None:
    response = client.get(f"{SERVERS}?{query}")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "E0000001"


def test_limit_above_200_is_capped(client: TestClient) -> None:
    assert "limit=200" in client.get(f"{SERVERS}?limit=500").headers["link"]


def test_get_default_by_its_literal_id(client: TestClient) -> None:
    server = client.get(f"{SERVERS}/default").json()
    assert server["name"] == "default"
    assert server["issuer"] == "http://testserver/oauth2/default"


def test_replace_changes_settings_never_keys(client: TestClient, clock: ManualClock) -> None:
    server = create(client)
    keys = client.get(f"{SERVERS}/{server['id']}/credentials/keys").json()
    clock.advance(timedelta(minutes=1))
    body = {
        "name": "renamed",
        "description": "d",
        "audiences": ["api://x", "api://y"],
        "issuerMode": "CUSTOM_URL",
        "credentials": {"signing": {"rotationMode": "MANUAL", "kid": "ignored"}},
    }
    replaced = client.put(f"{SERVERS}/{server['id']}", json=body).json()
    assert (replaced["name"], replaced["audiences"]) == ("renamed", ["api://x", "api://y"])
    assert replaced["issuerMode"] == "CUSTOM_URL"
    assert replaced["credentials"]["signing"]["kid"] == server["credentials"]["signing"]["kid"]
    assert replaced["lastUpdated"] == "2026-01-01T12:01:00.000Z"
    assert client.get(f"{SERVERS}/{server['id']}/credentials/keys").json() == keys


def test_switching_to_auto_schedules_a_rotation_in_the_future(
    client: TestClient, clock: ManualClock
) -> None:
    """A MANUAL server last rotated long ago does not rotate the moment it becomes AUTO."""
    server = create(client, credentials={"signing": {"rotationMode": "MANUAL"}})
    clock.advance(timedelta(days=200))
    body = {"name": "n", "audiences": ["a"], "credentials": {"signing": {"rotationMode": "AUTO"}}}
    replaced = client.put(f"{SERVERS}/{server['id']}", json=body).json()
    signing = replaced["credentials"]["signing"]
    assert signing["kid"] == server["credentials"]["signing"]["kid"]
    assert signing["nextRotation"] == "2026-10-18T12:00:00.000Z"


def test_deactivate_activate_and_delete(client: TestClient) -> None:
    """204s without a body or Content-Type; only an INACTIVE server can be deleted."""
    server_id = create(client)["id"]
    refused = client.delete(f"{SERVERS}/{server_id}")
    assert_okta_error(
        refused,
        400,
        "E0000001",
        "Api validation failed: authorizationServer",
        ["Deactivate the authorization server before deleting it."],
    )
    for action in ("deactivate", "activate", "deactivate"):
        response = client.post(f"{SERVERS}/{server_id}/lifecycle/{action}")
        assert response.status_code == 204
        assert response.content == b""
        assert "content-type" not in response.headers
    inactive = client.get(f"{SERVERS}/{server_id}").json()
    assert inactive["status"] == "INACTIVE"
    assert "activate" in inactive["_links"] and "deactivate" not in inactive["_links"]
    deleted = client.delete(f"{SERVERS}/{server_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert "content-type" not in deleted.headers
    assert client.get(f"{SERVERS}/{server_id}").status_code == 404


def test_the_default_server_cannot_be_deleted(client: TestClient) -> None:
    client.post(f"{SERVERS}/default/lifecycle/deactivate")
    response = client.delete(f"{SERVERS}/default")
    assert response.status_code == 400
    assert client.get(f"{SERVERS}/default").status_code == 200


@pytest.mark.parametrize("action", ["activate", "deactivate"])
def test_lifecycle_of_unknown_server_is_404(client: TestClient, action: str) -> None:
    response = client.post(f"{SERVERS}/ausMissing/lifecycle/{action}")
    assert_okta_error(
        response, 404, "E0000007", "Not found: Resource not found: ausMissing (AuthorizationServer)"
    )
