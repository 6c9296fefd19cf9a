"""Okta's API tokens API (``/api/v1/api-tokens``: list, get, revoke, revoke ``current``), the
tokens' expiry and revocation as every route sees them (the fast path too), and their
recorded last use. The answers are checked against Okta's ``ApiToken`` schema."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from keyrotor.apitoken_service import USE_PRECISION
from keyrotor.apitokens import (
    ALL_SCOPES,
    FIRST_TOKEN_ID,
    SCOPE_MANAGE,
    SCOPE_READ,
    new_token_value,
    weakness,
)
from keyrotor.clients import ClientSpec
from keyrotor.clock import ManualClock, iso
from keyrotor.errors import NotFound, ValidationFailed
from keyrotor.oauth import OAuthService
from keyrotor.service import KeyService
from tests.conftest import ADMIN_TOKEN, READ_TOKEN, START
from tests.okta_spec import OktaSpec
from tests.support import assert_okta_error
from tests.tokens.conftest import mint

SPEC = OktaSpec.load()
TOKENS = "/api/v1/api-tokens"
SERVER = "/api/v1/authorizationServers/default"  # a management read the fast path answers
INVALID = "Invalid token provided"
DENIED = "You do not have permission to perform the requested action"


def ssws(value: str) -> dict[str, str]:
    return {"Authorization": f"SSWS {value}"}


def token_id(service: KeyService, name: str) -> str:
    (found,) = [t.id for t in service.list_tokens() if t.name == name]
    return found


def not_found(token: str) -> str:
    return f"Not found: Resource not found: {token} (ApiToken)"


# -- shapes ---------------------------------------------------------------------------------


def test_list_answers_okta_api_tokens_without_their_values(
    client: TestClient, service: KeyService
) -> None:
    listed = SPEC.check(client.get(TOKENS), "listApiTokens", 200)
    assert sorted(t["name"] for t in listed) == ["admin", "reader"]  # made at one instant
    assert "link" not in client.get(TOKENS).headers  # Okta documents no pagination here
    text = client.get(TOKENS).text
    for stored in service.api_tokens.list_active():
        assert stored.digest not in text
    assert ADMIN_TOKEN not in text and READ_TOKEN not in text


def test_get_answers_the_mapped_members_in_oktas_order(
    client: TestClient, service: KeyService
) -> None:
    made, _ = service.create_token(
        "ci", (SCOPE_READ,), expires=START + timedelta(days=30, milliseconds=5)
    )
    body = SPEC.check(client.get(f"{TOKENS}/{made.id}"), "getApiToken", 200)
    href = f"http://testserver{TOKENS}/{made.id}"
    assert body == {
        "name": "ci",
        "network": {"connection": "ANYWHERE"},
        "id": made.id,
        "expiresAt": "2026-01-31T12:00:00.005Z",
        "created": iso(START),
        "lastUpdated": iso(START),
        "scopes": [SCOPE_READ],
        "_links": {"self": {"href": href, "hints": {"allow": ["GET", "DELETE"]}}},
    }
    example = list(SPEC.response_examples("getApiToken", 200)["HCaptcha"])
    shared = [member for member in body if member in example]
    assert shared == [member for member in example if member in body]  # Okta's order


def test_a_token_without_expiry_has_no_expires_at(client: TestClient, service: KeyService) -> None:
    body = client.get(f"{TOKENS}/{token_id(service, 'admin')}").json()
    assert "expiresAt" not in body
    for absent in ("userId", "clientName", "tokenWindow"):
        assert absent not in body


def test_the_okta_example_members_are_a_superset_of_the_answer(
    client: TestClient, service: KeyService
) -> None:
    """Every member answered is one of Okta's example, but keyrotor's own ``scopes``."""
    example = SPEC.response_examples("getApiToken", 200)["HCaptcha"]
    made, _ = service.create_token("x", ALL_SCOPES, expires=START + timedelta(days=1))
    body = client.get(f"{TOKENS}/{made.id}").json()
    assert set(body) - set(example) == {"scopes"}
    assert set(example) - set(body) == {"userId", "clientName", "tokenWindow"}


# -- who may call -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", TOKENS),
        ("GET", f"{TOKENS}/{FIRST_TOKEN_ID}"),
        ("DELETE", f"{TOKENS}/{FIRST_TOKEN_ID}"),
        ("DELETE", f"{TOKENS}/current"),
    ],
)
def test_every_route_needs_the_manage_scope(client: TestClient, method: str, path: str) -> None:
    assert_okta_error(
        client.request(method, path, headers=ssws(READ_TOKEN)), 403, "E0000006", DENIED
    )
    assert_okta_error(
        client.request(method, path, headers={"Authorization": ""}), 401, "E0000011", INVALID
    )
    assert client.get(SERVER, headers=ssws(READ_TOKEN)).status_code == 200  # still active


def test_unknown_ids_are_not_found(client: TestClient) -> None:
    for method in ("GET", "DELETE"):
        response = client.request(method, f"{TOKENS}/00Tnope")
        assert_okta_error(response, 404, "E0000007", not_found("00Tnope"))
    # there is no GET of `current`: it is an id like any other
    assert_okta_error(client.get(f"{TOKENS}/current"), 404, "E0000007", not_found("current"))


# -- revocation -------------------------------------------------------------------------------


def test_revoke_by_id(client: TestClient, service: KeyService) -> None:
    made, value = service.create_token("ops", ALL_SCOPES)
    assert client.get(SERVER, headers=ssws(value)).status_code == 200
    assert SPEC.check(client.delete(f"{TOKENS}/{made.id}"), "revokeApiToken", 204) is None
    assert_okta_error(client.get(SERVER, headers=ssws(value)), 401, "E0000011", INVALID)
    assert_okta_error(client.get(f"{TOKENS}/{made.id}"), 404, "E0000007", not_found(made.id))
    assert_okta_error(client.delete(f"{TOKENS}/{made.id}"), 404, "E0000007", not_found(made.id))
    assert made.id not in [t["id"] for t in client.get(TOKENS).json()]
    with service.store.transaction() as tx:  # kept, marked revoked
        stored = tx.get_token(made.id)
    assert stored is not None and stored.revoked == START


def test_revoke_current_revokes_the_callers_token_only(
    client: TestClient, service: KeyService
) -> None:
    made, value = service.create_token("leaving", ALL_SCOPES)
    response = client.delete(f"{TOKENS}/current", headers=ssws(value))
    assert SPEC.check(response, "revokeCurrentApiToken", 204) is None
    for method, path in [("GET", SERVER), ("GET", TOKENS), ("DELETE", f"{TOKENS}/current")]:
        refused = client.request(method, path, headers=ssws(value))
        assert_okta_error(refused, 401, "E0000011", INVALID)
    assert client.get(SERVER).status_code == 200  # the admin token is untouched
    assert sorted(t["name"] for t in client.get(TOKENS).json()) == ["admin", "reader"]
    assert made.id not in {t.id for t in service.list_tokens()}


def test_revoke_current_is_for_api_tokens_only(client: TestClient) -> None:
    """An org-server access token is no API token: 403, and nothing is revoked."""
    oauth: OAuthService = client.app.state.oauth
    made, secret = oauth.register_client(ClientSpec(name="ops", org_scopes=(SCOPE_MANAGE,)))
    public = TestClient(client.app)
    creds = {"client_id": made.client_id, "client_secret": secret}
    access = mint(public, creds, scope=SCOPE_MANAGE, server="org")
    bearer = {"Authorization": f"Bearer {access}"}
    assert public.get(TOKENS, headers=bearer).status_code == 200
    refused = public.delete(f"{TOKENS}/current", headers=bearer)
    assert_okta_error(refused, 403, "E0000006", DENIED)
    assert len(client.get(TOKENS).json()) == 2


def test_a_revoked_token_is_refused_by_the_fast_path_at_once(
    client: TestClient, service: KeyService
) -> None:
    """Cached and answered before routing, then revoked: the next call is 401."""
    made, value = service.create_token("cached", (SCOPE_READ,))
    for _ in range(2):
        assert client.get(SERVER, headers=ssws(value)).status_code == 200
    assert service.cached_token(value) is not None  # the fast path answers it from here
    assert client.delete(f"{TOKENS}/{made.id}").status_code == 204
    assert service.cached_token(value) is None
    assert_okta_error(client.get(SERVER, headers=ssws(value)), 401, "E0000011", INVALID)


def test_revoking_every_token_makes_no_new_first_token(service: KeyService) -> None:
    value = service.create_first_token()
    assert value is not None
    service.api_tokens.revoke(FIRST_TOKEN_ID)
    assert service.authenticate(value) is None
    assert service.create_first_token() is None  # `keyrotor tokens create` makes the next one


def test_registering_a_revoked_value_again_does_not_bring_it_back(service: KeyService) -> None:
    """The bootstrap token is registered at every start: once revoked, it stays revoked."""
    value = new_token_value()
    made, _ = service.create_token("bootstrap", ALL_SCOPES, value)
    service.api_tokens.revoke(made.id)
    again, _ = service.create_token("bootstrap", ALL_SCOPES, value)
    assert again.id == made.id and again.revoked is not None
    assert service.authenticate(value) is None


# -- expiry -----------------------------------------------------------------------------------


def test_an_expired_token_is_refused_everywhere(
    client: TestClient, service: KeyService, clock: ManualClock
) -> None:
    made, value = service.create_token("short", ALL_SCOPES, expires=START + timedelta(hours=1))
    for _ in range(2):  # cached, and answered by the fast path
        assert client.get(SERVER, headers=ssws(value)).status_code == 200
    assert client.get(TOKENS, headers=ssws(value)).status_code == 200
    clock.advance(timedelta(hours=1) - timedelta(milliseconds=1))
    assert client.get(SERVER, headers=ssws(value)).status_code == 200
    clock.advance(timedelta(milliseconds=1))
    assert service.cached_token(value) is None
    for path in (SERVER, TOKENS, f"{SERVER}/credentials/keys"):
        assert_okta_error(client.get(path, headers=ssws(value)), 401, "E0000011", INVALID)
    assert_okta_error(client.get(f"{TOKENS}/{made.id}"), 404, "E0000007", not_found(made.id))
    assert_okta_error(client.delete(f"{TOKENS}/{made.id}"), 404, "E0000007", not_found(made.id))
    assert made.id not in [t["id"] for t in client.get(TOKENS).json()]


def test_an_expiry_must_be_in_the_future(service: KeyService) -> None:
    with pytest.raises(ValidationFailed) as refused:
        service.create_token("late", ALL_SCOPES, expires=START)
    assert refused.value.causes == ("expiresAt: the expiry must be in the future",)


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("", "a token needs a name"),
        ("x" * 256, "at most 255"),
        ("a\x00b", "no NUL character"),
        ("a\udc80b", "unpaired surrogate"),
    ],
)
def test_a_token_needs_a_short_plain_name(service: KeyService, name: str, cause: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        service.create_token(name, ALL_SCOPES)
    assert cause in refused.value.causes[0]


def test_service_reads_refuse_inactive_tokens(service: KeyService, clock: ManualClock) -> None:
    made, _ = service.create_token("t", ALL_SCOPES, expires=START + timedelta(seconds=1))
    assert service.api_tokens.get(made.id) == made
    clock.advance(timedelta(seconds=1))
    with pytest.raises(NotFound):
        service.api_tokens.get(made.id)
    with pytest.raises(NotFound):
        service.api_tokens.revoke(made.id)


# -- last use ---------------------------------------------------------------------------------


def test_last_use_is_written_by_the_flush_at_most_once_a_minute(
    client: TestClient, service: KeyService, clock: ManualClock
) -> None:
    made, value = service.create_token("used", (SCOPE_READ,))

    def last_updated() -> Any:
        return client.get(f"{TOKENS}/{made.id}").json()["lastUpdated"]

    service.api_tokens.flush_uses()  # the admin's calls so far
    assert last_updated() == iso(START)  # never used: its creation
    clock.advance(timedelta(seconds=5))
    assert client.get(SERVER, headers=ssws(value)).status_code == 200
    assert last_updated() == iso(START)  # noted in memory only: no write per request
    assert service.api_tokens.flush_uses() >= 1
    assert last_updated() == iso(START + timedelta(seconds=5))
    clock.advance(timedelta(seconds=30))
    client.get(SERVER, headers=ssws(value))
    service.api_tokens.flush_uses()
    assert last_updated() == iso(START + timedelta(seconds=5))  # within USE_PRECISION
    clock.advance(USE_PRECISION)
    client.get(SERVER, headers=ssws(value))  # the fast path notes its uses too
    service.api_tokens.flush_uses()
    assert last_updated() == iso(START + timedelta(seconds=35) + USE_PRECISION)
    service.api_tokens.flush_uses()
    assert service.api_tokens.flush_uses() == 0  # nothing noted since: no write


# -- token values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("short-Value1", "12 characters"),
        ("00" + "x" * 29, "31 characters"),
        ("abcabcabcabcabcabcabcabcabcabcabcabc", "3 distinct"),
        ("thisisonlylowercaselettersbutlongenough", "one kind"),
        ("12345678901234567890123456789012", "one kind"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ", "one kind"),
    ],
)
def test_weak_values_are_named_weak_without_showing_them(value: str, why: str) -> None:
    found = weakness(value)
    assert found is not None and why in found and value not in found


@pytest.mark.parametrize(
    "value",
    [
        ADMIN_TOKEN,
        "0123456789abcdef0123456789abcdef",  # openssl rand -hex 16
        "f47ac10b-58cc-4372-a567-0e02b2c3d479",  # a UUID
        "q6Zp1B0Lx9RtYwE3uM8sJ2kHfVa4nGcD5oTi7ePzQ+I=",  # openssl rand -base64 32
    ],
)
def test_random_values_are_not_weak(value: str) -> None:
    assert weakness(value) is None


def test_made_values_are_never_weak() -> None:
    values = {new_token_value() for _ in range(500)}
    assert len(values) == 500
    assert all(weakness(v) is None and v.startswith("00") and len(v) == 42 for v in values)
