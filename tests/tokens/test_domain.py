"""The pure parts: claim checks of org tokens, scope requests, audiences, client metadata."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from keyrotor.client_secrets import SecretStatus, new_secret
from keyrotor.clients import AuthMethod, ClientSpec, new_client, parse_metadata
from keyrotor.errors import InvalidClientMetadata, InvalidScope
from keyrotor.tokens import audience, claims, claims_valid, requested_scopes

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SKEW = timedelta(minutes=5)
ORG = "https://keys.example.com"


def org_claims(**changes: Any) -> dict[str, Any]:
    made = claims(
        issuer=ORG,
        aud=ORG,
        client_id="0oa1",
        scopes=["okta.authorizationServers.read"],
        now=NOW,
        lifetime=timedelta(hours=1),
    )
    return {**made, **changes}


@pytest.mark.parametrize("issuer", [ORG, None])
def test_valid_org_claims(issuer: str | None) -> None:
    assert claims_valid(org_claims(), issuer=issuer, now=NOW, skew=SKEW)
    late = NOW + timedelta(hours=1, minutes=4, seconds=59)
    assert claims_valid(org_claims(), issuer=issuer, now=late, skew=SKEW)
    assert not claims_valid(org_claims(), issuer=issuer, now=late + timedelta(seconds=1), skew=SKEW)


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://elsewhere.example.com", "aud": "https://elsewhere.example.com"},
        {"aud": "api://default"},
        {"aud": [ORG]},
        {"iss": None},
        {"exp": "tomorrow"},
        {"exp": True},
        {"iat": None},
        {"iat": int((NOW + timedelta(minutes=6)).timestamp())},  # issued in the future
        {"nbf": int((NOW + timedelta(minutes=6)).timestamp())},  # not valid yet
        {"nbf": "soon"},
        {"exp": int((NOW + timedelta(hours=1, seconds=1)).timestamp())},  # longer than issued
    ],
)
def test_invalid_org_claims(changes: dict[str, Any]) -> None:
    found = org_claims(**changes)
    hour = timedelta(hours=1)
    assert not claims_valid(found, issuer=ORG, now=NOW, skew=SKEW, max_lifetime=hour)


def test_nbf_within_the_skew_is_accepted() -> None:
    found = org_claims(nbf=int((NOW + timedelta(minutes=4)).timestamp()))
    assert claims_valid(found, issuer=ORG, now=NOW, skew=SKEW, max_lifetime=timedelta(hours=1))


@pytest.mark.parametrize(
    "iss", ["https://keys.example.com/oauth2/default", "ftp://keys.example.com", "keys.example.com"]
)
def test_without_a_public_url_the_issuer_must_be_an_origin(iss: str) -> None:
    assert not claims_valid(org_claims(iss=iss, aud=iss), issuer=None, now=NOW, skew=SKEW)


def test_requested_scopes_keep_order_without_repeats() -> None:
    assert requested_scopes("b a b c") == ("b", "a", "c")
    with pytest.raises(InvalidScope):
        requested_scopes("a  b")


def test_audience_is_a_string_when_there_is_one() -> None:
    assert audience(["api://a"]) == "api://a"
    assert audience(["api://a", "api://b"]) == ["api://a", "api://b"]


def test_client_metadata_defaults() -> None:
    """A service client with a secret sent as HTTP Basic, as Okta's service apps default to."""
    spec = parse_metadata({"client_name": "x"})
    metadata = {
        "application_type": "service",
        "response_types": ["token"],
        "dpop_bound_access_tokens": False,
    }
    assert spec == ClientSpec(name="x", auth_method=AuthMethod.BASIC, metadata=metadata)


def test_a_registration_cannot_grant_org_scopes() -> None:
    """Org scopes are granted through app grants; the member is not Okta's, so it is refused."""
    with pytest.raises(InvalidClientMetadata, match="'org_scopes'"):
        parse_metadata({"client_name": "x", "org_scopes": ["okta.authorizationServers.manage"]})


def test_unknown_org_scopes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown org scopes"):
        new_client(ClientSpec(name="x", org_scopes=("okta.users.manage",)), NOW)


def test_client_repr_hides_the_secret_digests() -> None:
    secret = new_secret("0oaX", "secret-value", SecretStatus.ACTIVE, NOW, b"k" * 32)
    client = dataclasses.replace(new_client(ClientSpec(name="x"), NOW), secrets=(secret,))
    assert secret.digest not in repr(client) and secret.digest not in repr(secret)
    assert client.secret_matches("secret-value")
    assert not client.secret_matches("other")
    inactive = dataclasses.replace(secret, status=SecretStatus.INACTIVE)
    assert not dataclasses.replace(client, secrets=(inactive,)).secret_matches("secret-value")
