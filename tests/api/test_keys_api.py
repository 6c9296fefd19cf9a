"""The three key endpoints of the seed: list, get by kid, rotate (contract section 1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from keyrotor.clock import ManualClock
from keyrotor.crypto import thumbprint
from tests.support import assert_okta_error, fixture, shape

KEYS = "/api/v1/authorizationServers/{}/credentials/keys"
ROTATE = "/api/v1/authorizationServers/{}/credentials/lifecycle/keyRotate"
KEY_MEMBERS = ["kty", "status", "alg", "kid", "use", "_links", "e", "n"]
PRIVATE = {"d", "p", "q", "dp", "dq", "qi"}


def statuses(keys: list[dict[str, object]]) -> list[object]:
    return [k["status"] for k in keys]


def test_default_server_lists_an_active_and_a_next_key(client: TestClient) -> None:
    """A new store's `default` server has one ACTIVE key and a pre-published NEXT key."""
    response = client.get(KEYS.format("default"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    keys = response.json()
    assert statuses(keys) == ["ACTIVE", "NEXT"]


def test_key_object_matches_oktas_example_exactly(client: TestClient) -> None:
    """Member order, types and links are those of Okta's recorded key object."""
    key = client.get(KEYS.format("default")).json()[0]
    assert list(key) == KEY_MEMBERS
    assert shape(key) == shape(fixture("okta_key"))
    assert (key["kty"], key["alg"], key["use"], key["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert key["_links"] == {
        "self": {
            "href": f"http://testserver{KEYS.format('default')}/{key['kid']}",
            "hints": {"allow": ["GET"]},
        }
    }
    assert not PRIVATE & set(key)
    assert None not in key.values()


def test_kid_is_the_rfc7638_thumbprint_of_a_2048_bit_key(client: TestClient) -> None:
    """Okta's kid form (43 base64url characters), computed as the standard thumbprint."""
    for key in client.get(KEYS.format("default")).json():
        assert len(key["kid"]) == 43
        assert key["kid"] == thumbprint(key["n"], key["e"])
        assert len(key["n"]) == 342  # 256 bytes, base64url without padding


def test_thumbprint_matches_rfc7638_vector() -> None:
    """RFC 7638 section 3.1's example key gives the RFC's thumbprint."""
    vector = fixture("rfc7638")
    assert thumbprint(vector["jwk"]["n"], vector["jwk"]["e"]) == vector["thumbprint"]


def test_get_key_by_kid(client: TestClient) -> None:
    """Each listed key can be fetched by its kid, with the same body."""
    for key in client.get(KEYS.format("default")).json():
        response = client.get(f"{KEYS.format('default')}/{key['kid']}")
        assert response.status_code == 200
        assert response.json() == key


def test_get_unknown_kid_is_404(client: TestClient) -> None:
    response = client.get(f"{KEYS.format('default')}/nope")
    assert_okta_error(
        response,
        404,
        "E0000007",
        "Not found: Resource not found: nope (AuthorizationServerJsonWebKey)",
    )


@pytest.mark.parametrize(
    "path", [KEYS.format("ausNope"), f"{KEYS.format('ausNope')}/kid", ROTATE.format("ausNope")]
)
def test_unknown_server_is_404(client: TestClient, path: str) -> None:
    """Every key endpoint answers E0000007 for an unknown server."""
    method = client.post if path.endswith("keyRotate") else client.get
    kwargs = {"json": {"use": "sig"}} if path.endswith("keyRotate") else {}
    response = method(path, **kwargs)
    assert_okta_error(
        response, 404, "E0000007", "Not found: Resource not found: ausNope (AuthorizationServer)"
    )


def test_rotate_moves_every_key_one_step(client: TestClient) -> None:
    """ACTIVE -> EXPIRED, NEXT -> ACTIVE, a fresh NEXT; answers the list after it."""
    before = client.get(KEYS.format("default")).json()
    response = client.post(ROTATE.format("default"), json={"use": "sig"})
    assert response.status_code == 200
    after = response.json()
    assert statuses(after) == ["ACTIVE", "NEXT", "EXPIRED"]
    assert after[0]["kid"] == before[1]["kid"]
    assert after[2]["kid"] == before[0]["kid"]
    assert after[1]["kid"] not in {k["kid"] for k in before}
    assert client.get(KEYS.format("default")).json() == after


def test_rotate_updates_the_servers_signing_credentials(client: TestClient) -> None:
    """`credentials.signing.kid` names the new ACTIVE key; `lastRotated` is now."""
    after = client.post(ROTATE.format("default"), json={"use": "sig"}).json()
    signing = client.get("/api/v1/authorizationServers/default").json()["credentials"]["signing"]
    assert signing["kid"] == after[0]["kid"]
    assert signing["lastRotated"] == "2026-01-01T12:00:00.000Z"
    assert signing["nextRotation"] == "2026-04-01T12:00:00.000Z"


def test_key_material_never_changes_across_rotations(client: TestClient) -> None:
    """A kid's n and e are the same in every answer that shows it."""
    seen: dict[str, tuple[str, str]] = {}
    for _ in range(4):
        for key in client.post(ROTATE.format("default"), json={"use": "sig"}).json():
            assert seen.setdefault(key["kid"], (key["n"], key["e"])) == (key["n"], key["e"])


def test_expired_keys_leave_the_list_after_retention(
    client: TestClient, clock: ManualClock
) -> None:
    """The newest EXPIRED key stays until the next rotation; older ones after retention."""
    first = client.post(ROTATE.format("default"), json={"use": "sig"}).json()
    second = client.post(ROTATE.format("default"), json={"use": "sig"}).json()
    assert statuses(second) == ["ACTIVE", "NEXT", "EXPIRED", "EXPIRED"]
    clock.advance(timedelta(hours=2))
    listed = client.get(KEYS.format("default")).json()
    assert statuses(listed) == ["ACTIVE", "NEXT", "EXPIRED"]
    assert listed[2]["kid"] == first[0]["kid"]  # the newest expired one
    retired = second[3]["kid"]
    assert client.get(f"{KEYS.format('default')}/{retired}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [None, {}, {"use": "enc"}, {"use": None}, {"use": ["sig"]}, [], "sig", {"use": "SIG"}],
)
def test_rotate_refuses_anything_but_use_sig(client: TestClient, body: object) -> None:
    """400 E0000001 with Okta's exact cause, and nothing changes."""
    before = client.get(KEYS.format("default")).json()
    response = client.post(ROTATE.format("default"), json=body)
    assert_okta_error(
        response,
        400,
        "E0000001",
        "Api validation failed: rotateKeys",
        ["Invalid value specified for key 'use' parameter"],
    )
    assert client.get(KEYS.format("default")).json() == before


@pytest.mark.parametrize("raw", [b"{", b"use=sig", b"\xff\xfe", b'{"use":"sig"'])
def test_rotate_with_a_body_that_is_not_json_is_e0000003(client: TestClient, raw: bytes) -> None:
    before = client.get(KEYS.format("default")).json()
    response = client.post(
        ROTATE.format("default"), content=raw, headers={"Content-Type": "application/json"}
    )
    assert_okta_error(response, 400, "E0000003", "The request body was not well-formed.")
    assert client.get(KEYS.format("default")).json() == before


def test_rotate_works_in_manual_mode_and_on_inactive_servers(client: TestClient) -> None:
    """Okta advertises rotateKey in both modes and on INACTIVE servers."""
    created = client.post(
        "/api/v1/authorizationServers",
        json={
            "name": "m",
            "audiences": ["api://m"],
            "credentials": {"signing": {"rotationMode": "MANUAL"}},
        },
    ).json()
    client.post(f"/api/v1/authorizationServers/{created['id']}/lifecycle/deactivate")
    response = client.post(ROTATE.format(created["id"]), json={"use": "sig"})
    assert response.status_code == 200
    assert statuses(response.json()) == ["ACTIVE", "NEXT", "EXPIRED"]


def test_auto_mode_rotates_by_itself_when_90_days_pass(
    client: TestClient, clock: ManualClock
) -> None:
    """Reading a server after its nextRotation applies the due rotation exactly once."""
    before = client.get(KEYS.format("default")).json()
    clock.advance(timedelta(days=90))
    after = client.get(KEYS.format("default")).json()
    assert statuses(after) == ["ACTIVE", "NEXT", "EXPIRED"]
    assert after[0]["kid"] == before[1]["kid"]
    assert client.get(KEYS.format("default")).json() == after
    signing = client.get("/api/v1/authorizationServers/default").json()["credentials"]["signing"]
    assert signing["lastRotated"] == "2026-04-01T12:00:00.000Z"
    assert signing["nextRotation"] == "2026-06-30T12:00:00.000Z"


def test_manual_mode_never_rotates_by_itself(client: TestClient, clock: ManualClock) -> None:
    client.put(
        "/api/v1/authorizationServers/default",
        json={
            "name": "default",
            "audiences": ["api://default"],
            "credentials": {"signing": {"rotationMode": "MANUAL"}},
        },
    )
    before = client.get(KEYS.format("default")).json()
    clock.advance(timedelta(days=400))
    assert client.get(KEYS.format("default")).json() == before


def test_next_key_lead_defers_the_next_key_until_its_time(make_service, clock) -> None:
    """With a lead time, AUTO servers have no NEXT key until `lead` before the rotation,
    then get one (from a read or the sweep) that the rotation promotes."""
    from keyrotor.lifecycle import RotationPolicy

    service = make_service(policy=RotationPolicy(next_lead=timedelta(days=14)))
    assert [k.status.value for k in service.list_keys("default")] == ["ACTIVE"]
    clock.advance(timedelta(days=76))
    assert service.sweep() == 2  # default's NEXT key, and the org server's
    keys = service.list_keys("default")
    assert [k.status.value for k in keys] == ["ACTIVE", "NEXT"]
    clock.advance(timedelta(days=14))
    after = service.list_keys("default")
    assert [k.status.value for k in after] == ["ACTIVE", "EXPIRED"]
    assert after[0].kid == keys[1].kid
