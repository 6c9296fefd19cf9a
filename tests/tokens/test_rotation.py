"""Tokens across rotations, in-process: PyJWT's ``PyJWKClient`` (warm and cold cache) keeps
accepting every unexpired token, manual or AUTO rotation alike; new tokens carry the new kid;
a signature that does not match its kid is refused."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from keyrotor.clock import ManualClock
from tests.tokens.conftest import AppJWKClient, mint

pytestmark = pytest.mark.usefixtures("scoped")
JWKS = "http://testserver/oauth2/default/v1/keys"
ROTATE = "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate"
SKEW = timedelta(minutes=5)


def kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def verify(jwks: AppJWKClient, token: str, clock: ManualClock) -> dict[str, Any]:
    """What a resource server does; ``exp`` is checked against the test's clock."""
    claims: dict[str, Any] = jwt.decode(
        token,
        jwks.get_signing_key_from_jwt(token).key,
        algorithms=["RS256"],
        audience="api://default",
        issuer="http://testserver/oauth2/default",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert clock().timestamp() < claims["exp"] + SKEW.total_seconds(), "token expired"
    return claims


def active_kid(client: TestClient) -> str:
    server = client.get("/api/v1/authorizationServers/default").json()
    return str(server["credentials"]["signing"]["kid"])


def test_manual_rotation_warm_and_cold_cache(
    client: TestClient, public: TestClient, registered: dict[str, Any], clock: ManualClock
) -> None:
    before = mint(public, registered)
    warm = AppJWKClient(public, JWKS)
    verify(warm, before, clock)
    old_kid = kid(before)

    rotated = client.post(ROTATE, json={"use": "sig"}).json()
    after = mint(public, registered)

    assert kid(after) != old_kid
    assert kid(after) == active_kid(client)
    assert {k["kid"]: k["status"] for k in rotated}[old_kid] == "EXPIRED"
    cold = AppJWKClient(public, JWKS)
    for jwks in (warm, cold):
        verify(jwks, before, clock)
        verify(jwks, after, clock)
    # the new ACTIVE key was published as NEXT before: the warm cache needed no refetch
    assert warm.fetches == 1


def test_signature_that_does_not_match_its_kid_is_refused(
    client: TestClient, public: TestClient, registered: dict[str, Any], clock: ManualClock
) -> None:
    token = mint(public, registered)
    keys = client.get("/api/v1/authorizationServers/default/credentials/keys").json()
    other = next(k["kid"] for k in keys if k["status"] == "NEXT")
    header, claims, signature = token.split(".")
    forged_header = dict(jwt.get_unverified_header(token), kid=other)
    encoded = base64.urlsafe_b64encode(json.dumps(forged_header).encode()).rstrip(b"=").decode()
    forged = f"{encoded}.{claims}.{signature}"
    with pytest.raises(jwt.InvalidSignatureError):
        verify(AppJWKClient(public, JWKS), forged, clock)
    tampered = f"{header}.{claims[:-4]}AAAA.{signature}"
    with pytest.raises(jwt.PyJWTError):
        verify(AppJWKClient(public, JWKS), tampered, clock)


def test_unknown_kid_is_refused_after_one_refetch(
    public: TestClient, registered: dict[str, Any]
) -> None:
    token = mint(public, registered)
    _, claims, signature = token.split(".")
    unknown = dict(jwt.get_unverified_header(token), kid="not-a-kid")
    encoded = base64.urlsafe_b64encode(json.dumps(unknown).encode()).rstrip(b"=").decode()
    with pytest.raises(jwt.PyJWKClientError):
        AppJWKClient(public, JWKS).get_signing_key_from_jwt(f"{encoded}.{claims}.{signature}")


def test_auto_rotation_brought_by_the_clock(
    client: TestClient, public: TestClient, registered: dict[str, Any], clock: ManualClock
) -> None:
    before = mint(public, registered)
    warm = AppJWKClient(public, JWKS)
    verify(warm, before, clock)
    next_kid = next(
        k["kid"]
        for k in client.get("/api/v1/authorizationServers/default/credentials/keys").json()
        if k["status"] == "NEXT"
    )

    clock.advance(timedelta(days=91))
    after = mint(public, registered)  # the token request itself applies the due rotation

    assert kid(after) == next_kid != kid(before)
    cold = AppJWKClient(public, JWKS)
    for jwks in (warm, cold):
        verify(jwks, after, clock)
        # the old token has long expired, but its key is still published: it still verifies
        jwks.get_signing_key_from_jwt(before)
    assert warm.fetches == 1


def test_auto_rotation_during_a_tokens_life(
    public: TestClient, registered: dict[str, Any], clock: ManualClock
) -> None:
    clock.advance(timedelta(days=90) - timedelta(minutes=10))
    before = mint(public, registered)
    warm = AppJWKClient(public, JWKS)
    verify(warm, before, clock)
    clock.advance(timedelta(minutes=20))  # the AUTO rotation is now due
    after = mint(public, registered)
    assert kid(after) != kid(before)
    for jwks in (warm, AppJWKClient(public, JWKS)):
        verify(jwks, before, clock)
        verify(jwks, after, clock)


@pytest.mark.parametrize(
    "gaps",
    [
        [0, 0, 0, 0],  # four rotations in the same instant
        [1, 5, 60, 600, 3600, 3900, 30],
        [3899, 3901, 1, 7200, 0, 120],
    ],
)
def test_every_unexpired_token_verifies_however_fast_rotations_follow(
    client: TestClient,
    public: TestClient,
    registered: dict[str, Any],
    clock: ManualClock,
    gaps: list[int],
) -> None:
    """Retention: a key stays published until its last token expired (plus clock skew)."""
    minted: list[str] = []
    for gap in gaps:
        minted.append(mint(public, registered))
        client.post(ROTATE, json={"use": "sig"})
        clock.advance(timedelta(seconds=gap))
        cold = AppJWKClient(public, JWKS)
        for token in minted:
            claims = jwt.decode(token, options={"verify_signature": False})
            if clock().timestamp() < claims["exp"] + SKEW.total_seconds():
                verify(cold, token, clock)


def test_retired_keys_leave_the_jwks_once_their_tokens_expired(
    client: TestClient, public: TestClient, registered: dict[str, Any], clock: ManualClock
) -> None:
    token = mint(public, registered)
    for _ in range(3):
        client.post(ROTATE, json={"use": "sig"})
    published = {k["kid"] for k in public.get(JWKS).json()["keys"]}
    assert kid(token) in published
    clock.advance(timedelta(hours=1, minutes=5))
    published = {k["kid"] for k in public.get(JWKS).json()["keys"]}
    assert kid(token) not in published
