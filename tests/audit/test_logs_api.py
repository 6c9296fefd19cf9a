"""Okta's System Log API, ``GET /api/v1/logs``, in-process: Okta's ``LogEvent`` shape
(checked against Okta's schema), the filters, keyword search, bounds and paging, and the
refusals in Okta's error format."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from keyrotor import audit
from keyrotor.apitokens import SCOPE_MANAGE
from keyrotor.clients import ClientSpec
from keyrotor.clock import ManualClock
from keyrotor.oauth import OAuthService
from keyrotor.service import KeyService
from tests.conftest import READ_TOKEN, START
from tests.okta_spec import OktaSpec
from tests.tokens.conftest import mint

SPEC = OktaSpec.load()
LOGS = "/api/v1/logs"
SERVERS = "/api/v1/authorizationServers"


def logs(client: TestClient, **params: str) -> list[dict[str, Any]]:
    response = client.get(LOGS, params=params)
    body: list[dict[str, Any]] = SPEC.check(response, "listLogEvents", 200)
    return body


def make_server(client: TestClient, name: str) -> str:
    made = client.post(SERVERS, json={"name": name, "audiences": [f"api://{name}"]})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def next_link(response: httpx.Response) -> str | None:
    for part in response.headers["link"].split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            return url.strip()[1:-1]
    return None


def refused(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get(LOGS, params=params)
    body: dict[str, Any] = SPEC.check(response, "listLogEvents", 400)
    assert body["errorCode"] == "E0000001"
    return body


def test_changes_made_through_the_api_are_logged_in_oktas_shape(
    client: TestClient, service: KeyService
) -> None:
    server_id = make_server(client, "payments")
    rotated = client.post(
        f"{SERVERS}/{server_id}/credentials/lifecycle/keyRotate", json={"use": "sig"}
    )
    assert rotated.status_code == 200
    found = logs(client, filter=f'target.id eq "{server_id}"')
    kinds = [e["eventType"] for e in found]
    assert kinds[0] == "oauth2.as.created"
    assert "app.oauth2.as.key.rollover" in kinds
    token = service.authenticate(client.headers["Authorization"].split()[1])
    assert token is not None
    for event in found:
        assert event["actor"] == {
            "id": token.id,
            "type": "ApiToken",
            "alternateId": "admin",
            "displayName": "admin",
        }
        assert event["transaction"]["detail"] == {"requestApiTokenId": token.id}
        assert event["outcome"] == {"result": "SUCCESS"}
        assert event["published"] == "2026-01-01T12:00:00.000Z"
    rollover = next(e for e in found if e["eventType"] == "app.oauth2.as.key.rollover")
    assert rollover["target"] == [
        {
            "id": server_id,
            "type": "AuthorizationServer",
            "alternateId": "payments",
            "displayName": "payments",
        }
    ]
    assert rollover["debugContext"]["debugData"]["trigger"] == "MANUAL"
    key_event = next(e for e in found if e["eventType"] == audit.KEY_EXPIRED)
    assert [t["type"] for t in key_event["target"]] == [
        "AuthorizationServerJsonWebKey",
        "AuthorizationServer",
    ]


def test_an_update_carries_okta_change_details(client: TestClient) -> None:
    server_id = make_server(client, "billing")
    body = {
        "name": "billing",
        "audiences": ["api://billing"],
        "credentials": {"signing": {"rotationMode": "MANUAL"}},
    }
    assert client.put(f"{SERVERS}/{server_id}", json=body).status_code == 200
    updated = logs(
        client, filter=f'eventType eq "oauth2.as.updated" and target.id eq "{server_id}"'
    )
    assert len(updated) == 1
    assert updated[0]["target"][0]["changeDetails"] == {
        "from": {"rotationMode": "AUTO"},
        "to": {"rotationMode": "MANUAL"},
    }
    mode = logs(client, filter='eventType eq "keyrotor.as.rotation_mode.update"')
    assert [e["target"][0]["id"] for e in mode] == [server_id]


def test_filters_keywords_and_bounds(client: TestClient, clock: ManualClock) -> None:
    first = make_server(client, "first")
    clock.advance(timedelta(hours=1))
    second = make_server(client, "second")
    both = logs(client, filter='eventType eq "oauth2.as.created"')
    assert [e["target"][0]["id"] for e in both][-2:] == [first, second]
    later = logs(client, filter='eventType eq "oauth2.as.created"', since="2026-01-01T12:30:00Z")
    assert [e["target"][0]["id"] for e in later] == [second]
    earlier = logs(client, filter='eventType eq "oauth2.as.created"', until="2026-01-01T12:30:00Z")
    assert second not in [e["target"][0]["id"] for e in earlier]
    assert [e["eventType"] for e in logs(client, q="second oauth2.as.created")] == [
        "oauth2.as.created"
    ]
    grouped = logs(
        client, filter=f'(eventType eq "oauth2.as.created") AND (target.id eq "{first}")'
    )
    assert len(grouped) == 1
    assert logs(client, filter='eventType eq "oauth2.as.created" and eventType eq "x"') == []
    by_actor = logs(client, filter='actor.id eq "system"')
    assert by_actor and all(e["actor"]["type"] == "SystemPrincipal" for e in by_actor)
    newest = logs(client, sortOrder="DESCENDING", limit="1")
    assert second in [t["id"] for t in newest[0]["target"]]
    assert newest[0]["published"] == "2026-01-01T13:00:00.000Z"
    # since defaults to seven days before until: events older than that are left out
    clock.advance(timedelta(days=8))
    assert logs(client) == []
    assert logs(client, since=START.isoformat())[0]["eventType"] == "oauth2.as.created"


def test_bounded_paging_follows_next_links_to_the_end(client: TestClient) -> None:
    for i in range(3):
        make_server(client, f"paged-{i}")
    every = logs(client, until="2026-01-02T00:00:00Z", limit="1000")
    seen: list[str] = []
    url: str | None = f"{LOGS}?until=2026-01-02T00:00:00Z&limit=4"
    while url is not None:
        response = client.get(url)
        seen += [e["uuid"] for e in SPEC.check(response, "listLogEvents", 200)]
        url = next_link(response)
    assert seen == [e["uuid"] for e in every]
    assert len(seen) > 8


def test_a_polling_request_always_has_a_next_link(client: TestClient) -> None:
    response = client.get(LOGS, params={"limit": "1000"})
    assert response.status_code == 200
    link = next_link(response)
    assert link is not None
    after = parse_qs(urlsplit(link).query)["after"][0]
    assert client.get(link).json() == []  # nothing new yet, and still a next link
    assert next_link(client.get(link)) == link
    server_id = make_server(client, "late")
    fresh = SPEC.check(client.get(link), "listLogEvents", 200)
    assert fresh[0]["eventType"] == "oauth2.as.created"
    assert fresh[0]["target"][0]["id"] == server_id
    assert after.isdigit()


@pytest.mark.parametrize(
    "params",
    [
        {"filter": 'eventType sw "oauth2"'},
        {"filter": 'eventType eq "a" or eventType eq "b"'},
        {"filter": 'published gt "2026-01-01T00:00:00Z"'},
        {"filter": "eventType eq oauth2.as.created"},
        {"filter": 'eventType eq "unterminated'},
        {"filter": '(eventType eq "a"'},
        {"filter": 'eventType eq "a" and'},
        {"since": "yesterday"},
        {"until": "2026-13-01T00:00:00Z"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"limit": "abc"},
        {"limit": "1001"},
        {"after": "-1"},
        {"sortOrder": "SIDEWAYS"},
        {"q": " ".join(["word"] * 11)},
        {"q": "x" * 41},
    ],
)
def test_bad_queries_get_oktas_400(client: TestClient, params: dict[str, str]) -> None:
    body = refused(client, **params)
    assert body["errorCauses"], body


def test_reading_the_log_needs_a_token_with_the_read_scope(client: TestClient) -> None:
    assert client.get(LOGS, headers={"Authorization": ""}).status_code == 401
    reader = client.get(LOGS, headers={"Authorization": f"SSWS {READ_TOKEN}"})
    assert reader.status_code == 200


def test_an_org_server_token_is_recorded_as_its_client(client: TestClient) -> None:
    oauth: OAuthService = client.app.state.oauth
    made, secret = oauth.register_client(ClientSpec(name="ops", org_scopes=(SCOPE_MANAGE,)))
    public = TestClient(client.app)
    creds = {"client_id": made.client_id, "client_secret": secret}
    token = mint(public, creds, scope=SCOPE_MANAGE, server="org")
    rotated = public.post(
        f"{SERVERS}/default/credentials/lifecycle/keyRotate",
        json={"use": "sig"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert rotated.status_code == 200, rotated.text
    [event] = logs(client, filter='eventType eq "app.oauth2.as.key.rollover"')
    assert event["actor"]["id"] == made.client_id
    assert event["actor"]["type"] == "PublicClientApp"
    assert event["client"] == {"id": made.client_id}
    assert event["transaction"]["type"] == "WEB"
    assert token not in json.dumps(logs(client)) and secret not in json.dumps(logs(client))
