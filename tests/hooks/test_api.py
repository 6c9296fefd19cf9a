"""``/api/v1/eventHooks`` in-process: Okta's shapes, every refusal in Okta's error body,
the SSRF checks, and the shared secret never answered back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from keyrotor import audit
from keyrotor.audit import EventQuery
from keyrotor.service import KeyService
from tests.hooks.conftest import SECRET, hook_body
from tests.hooks.receiver import Receiver
from tests.support import assert_okta_error

PATH = "/api/v1/eventHooks"
PUBLIC = "https://93.184.215.14/okta/hooks"  # a public address: no DNS needed
SUMMARY = "Api validation failed: eventHook"


def _create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(PATH, json=body)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_create_answers_okta_s_event_hook_without_the_secret(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(test_mode=False)
    made = _create(client, hook_body(PUBLIC))
    assert made["id"].startswith("who") and len(made["id"]) == 20
    assert list(made) == [
        *("id", "status", "verificationStatus", "name", "description", "created"),
        *("createdBy", "lastUpdated", "events", "channel", "_links"),
    ]
    assert made["status"] == "ACTIVE" and made["verificationStatus"] == "UNVERIFIED"
    assert made["events"] == {
        "type": "EVENT_TYPE",
        "items": ["app.oauth2.as.key.rollover"],
        "filter": None,
    }
    assert made["channel"] == {
        "type": "HTTP",
        "version": "1.0.0",
        "config": {
            "uri": PUBLIC,
            "headers": [{"key": "X-Other-Header", "value": "other-value"}],
            "method": "POST",
            "authScheme": {"type": "HEADER", "key": "Authorization"},
        },
    }
    href = f"http://testserver{PATH}/{made['id']}"
    assert made["_links"]["self"]["href"] == href
    assert made["_links"]["verify"] == {
        "href": f"{href}/lifecycle/verify",
        "hints": {"allow": ["POST"]},
    }
    assert "deactivate" in made["_links"]
    for answer in (client.get(PATH), client.get(f"{PATH}/{made['id']}")):
        assert answer.status_code == 200
        assert SECRET not in answer.text
    assert client.get(PATH).json() == [made]


def test_replace_activate_deactivate_delete(make_client: Callable[..., TestClient]) -> None:
    client = make_client(test_mode=False)
    made = _create(client, hook_body(PUBLIC))
    href = f"{PATH}/{made['id']}"
    sent = hook_body("https://93.184.215.15/other", ["oauth2.as.updated"], description="d")
    del sent["channel"]["config"]["authScheme"]["value"]  # as read back: the secret is kept
    replaced = client.put(href, json=sent)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["events"]["items"] == ["oauth2.as.updated"]
    assert replaced.json()["description"] == "d"
    assert replaced.json()["verificationStatus"] == "UNVERIFIED"  # a new URL: verify again
    refused = client.delete(href)
    assert_okta_error(
        refused, 400, "E0000001", SUMMARY, ["Deactivate the event hook before deleting it."]
    )
    off = client.post(f"{href}/lifecycle/deactivate")
    assert off.status_code == 200 and off.json()["status"] == "INACTIVE"
    assert "activate" in off.json()["_links"]
    on = client.post(f"{href}/lifecycle/activate")
    assert on.json()["status"] == "ACTIVE"
    client.post(f"{href}/lifecycle/deactivate")
    assert client.delete(href).status_code == 204
    assert_okta_error(
        client.get(href),
        404,
        "E0000007",
        f"Not found: Resource not found: {made['id']} (EventHook)",
    )


def test_every_change_is_recorded_without_the_secret(
    make_client: Callable[..., TestClient], service: KeyService
) -> None:
    client = make_client(test_mode=False)
    made = _create(client, hook_body(PUBLIC))
    href = f"{PATH}/{made['id']}"
    client.put(href, json=hook_body(PUBLIC, ["oauth2.as.created"]))
    client.post(f"{href}/lifecycle/deactivate")
    client.post(f"{href}/lifecycle/activate")
    client.post(f"{href}/lifecycle/deactivate")
    client.delete(href)
    found = [e for _, e in service.events(EventQuery(target_id=made["id"]))]
    assert [e.event_type for e in found] == [
        audit.HOOK_CREATED,
        audit.HOOK_UPDATED,
        audit.HOOK_DEACTIVATED,
        audit.HOOK_ACTIVATED,
        audit.HOOK_DEACTIVATED,
        audit.HOOK_DELETED,
    ]
    assert all(e.actor.type == "ApiToken" and e.target.type == "EventHook" for e in found)
    logs = client.get("/api/v1/logs", params={"filter": f'target.id eq "{made["id"]}"'})
    assert len(logs.json()) == 6
    assert SECRET not in logs.text and "other-value" not in logs.text


@pytest.mark.parametrize(
    ("uri", "cause"),
    [
        ("http://93.184.215.14/x", "Must be an https:// URL."),
        ("https://127.0.0.1/x", "resolves to loopback: only `serve --test-mode` sends there."),
        ("https://[::1]:8443/x", "resolves to loopback: only `serve --test-mode` sends there."),
        ("https://localhost/x", "resolves to loopback: only `serve --test-mode` sends there."),
        ("https://10.1.2.3/x", "resolves to 10.1.2.3, a private"),
        ("https://192.168.0.10/x", "resolves to 192.168.0.10, a private"),
        ("https://169.254.169.254/latest/meta-data", "resolves to 169.254.169.254, a private"),
        ("https://[fd00::1]/x", "resolves to fd00::1, a private"),
        ("https://[::ffff:10.0.0.1]/x", "resolves to ::ffff:a00:1, a private"),
        ("https://0.0.0.0/x", "resolves to 0.0.0.0, a private"),
        ("https://100.64.0.1/x", "resolves to 100.64.0.1, a private"),
        ("https://no-such-host.invalid/x", "The host no-such-host.invalid cannot be resolved."),
    ],
)
def test_urls_that_do_not_point_at_a_public_https_host_are_refused(
    make_client: Callable[..., TestClient], uri: str, cause: str
) -> None:
    client = make_client(test_mode=False)
    answer = client.post(PATH, json=hook_body(uri))
    body = assert_okta_error(
        answer, 400, "E0000001", SUMMARY, [answer.json()["errorCauses"][0]["errorSummary"]]
    )
    [found] = body["errorCauses"]
    assert found["errorSummary"].startswith("channel.config.uri: ")
    assert cause in found["errorSummary"]
    assert client.get(PATH).json() == []


def test_test_mode_takes_loopback_over_http_and_still_refuses_private(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(test_mode=True)
    for uri in ("http://127.0.0.1:9/x", "https://localhost:9/x", "http://[::1]:9/x"):
        assert client.post(PATH, json=hook_body(uri)).status_code == 200, uri
    for uri in ("http://10.0.0.1/x", "https://169.254.169.254/x", "http://93.184.215.14/x"):
        answer = client.post(PATH, json=hook_body(uri))
        assert answer.status_code == 400, uri


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        (lambda b: b.pop("name"), "name: The field cannot be left blank"),
        (lambda b: b["events"].update(type="FLOW_EVENT"), "events.type: Must be EVENT_TYPE."),
        (lambda b: b["events"].update(items=[]), "events.items: Name at least one event type"),
        (
            lambda b: b["events"].update(items=["user.session.start"]),
            "events.items: Not an event type keyrotor records: user.session.start.",
        ),
        (
            lambda b: b["events"].update(filter={"type": "EXPRESSION_LANGUAGE"}),
            "events.filter: keyrotor does not filter events by expression",
        ),
        (lambda b: b["channel"].update(type="OAUTH"), "channel.type: Must be HTTP."),
        (lambda b: b["channel"].update(version="2.0.0"), "channel.version: Must be 1.0.0."),
        (
            lambda b: b["channel"]["config"].update(method="GET"),
            "channel.config.method: Must be POST",
        ),
        (
            lambda b: b["channel"]["config"].update(uri="https://u:p@93.184.215.14/"),
            "channel.config.uri: Must not hold credentials",
        ),
        (
            lambda b: b["channel"]["config"]["headers"].append({"key": "Host", "value": "x"}),
            "channel.config.headers[1].key: Must be a header name",
        ),
        (
            lambda b: b["channel"]["config"]["headers"].append({"key": "X-A", "value": "a\r\nb"}),
            "channel.config.headers[1].value: Must be 1 to 1024 characters, on one line.",
        ),
        (
            lambda b: b["channel"]["config"]["authScheme"].update(type="BASIC"),
            "channel.config.authScheme.type: Must be HEADER.",
        ),
        (lambda b: b.update(colour="blue"), "colour: Not a member of Okta's EventHook."),
        (
            lambda b: b["channel"]["config"].update(extra=1),
            "channel.config.extra: Not a member of Okta's EventHookChannelConfig.",
        ),
        (lambda b: b.update(status="PAUSED"), "status: Must be one of ACTIVE, INACTIVE."),
    ],
)
def test_bad_bodies_are_refused_naming_the_member(
    make_client: Callable[..., TestClient], change: Callable[[dict[str, Any]], Any], cause: str
) -> None:
    client = make_client(test_mode=False)
    body = hook_body(PUBLIC)
    change(body)
    answer = client.post(PATH, json=body)
    assert answer.status_code == 400, answer.text
    found = answer.json()
    assert found["errorCode"] == "E0000001" and found["errorSummary"] == SUMMARY
    assert any(c["errorSummary"].startswith(cause) for c in found["errorCauses"]), found
    assert client.get(PATH).json() == []


def test_read_only_members_sent_back_are_accepted(make_client: Callable[..., TestClient]) -> None:
    client = make_client(test_mode=False)
    made = _create(client, hook_body(PUBLIC))
    made["channel"]["config"]["authScheme"]["value"] = "a-new-secret-value"
    again = client.put(f"{PATH}/{made['id']}", json=made)
    assert again.status_code == 200, again.text
    assert "a-new-secret-value" not in again.text


def test_unknown_hooks_and_methods(make_client: Callable[..., TestClient]) -> None:
    client = make_client(test_mode=False)
    summary = "Not found: Resource not found: whoNOPE (EventHook)"
    for method, path in [
        ("GET", f"{PATH}/whoNOPE"),
        ("PUT", f"{PATH}/whoNOPE"),
        ("DELETE", f"{PATH}/whoNOPE"),
        ("POST", f"{PATH}/whoNOPE/lifecycle/activate"),
        ("POST", f"{PATH}/whoNOPE/lifecycle/verify"),
    ]:
        body = hook_body(PUBLIC) if method == "PUT" else None
        assert_okta_error(client.request(method, path, json=body), 404, "E0000007", summary)
    assert client.patch(PATH).status_code == 405
    assert client.get(PATH, headers={"Authorization": "SSWS nope"}).status_code == 401


def test_verify_answers_the_challenge_of_a_real_receiver(
    make_client: Callable[..., TestClient], hook_receiver: Receiver
) -> None:
    client = make_client(test_mode=True)
    made = _create(client, hook_body(hook_receiver.url))
    verified = client.post(f"{PATH}/{made['id']}/lifecycle/verify")
    assert verified.status_code == 200, verified.text
    assert verified.json()["verificationStatus"] == "VERIFIED"
    [asked] = hook_receiver.received
    assert asked.method == "GET"
    assert asked.headers["Authorization"] == SECRET  # the shared secret, as Okta sends it
    assert asked.headers["X-Other-Header"] == "other-value"
    assert len(asked.headers["X-Okta-Verification-Challenge"]) >= 32


def test_verify_fails_when_nobody_answers_the_challenge(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(test_mode=True)
    made = _create(client, hook_body("http://127.0.0.1:9/nobody"))
    answer = client.post(f"{PATH}/{made['id']}/lifecycle/verify")
    assert answer.status_code == 400
    [cause] = answer.json()["errorCauses"]
    assert cause["errorSummary"].startswith("Event hook verification failed: ConnectError")
    assert client.get(f"{PATH}/{made['id']}").json()["verificationStatus"] == "UNVERIFIED"
