"""A client assertion or a DPoP proof is used once across replicas (one database)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest
from joserfc.jwk import RSAKey

from tests.replicas.cluster import Cluster, db_upgrade

pytestmark = pytest.mark.e2e
PUBLIC_URL = "https://keys.example"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPE = "okta.authorizationServers.read"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'keyrotor.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_a_replayed_assertion_is_refused_by_another_replica(
    database: str, cluster: Callable[..., Cluster]
) -> None:
    if not database.startswith("sqlite"):  # serve makes a SQLite store; PostgreSQL is upgraded
        db_upgrade(database)
    replicas = cluster(database, 2, "--public-url", PUBLIC_URL)  # one issuer, one aud
    key = RSAKey.generate_key(2048, private=True, parameters={"kid": "k1"})
    with replicas.client() as admin:
        body = {
            "client_name": "svc",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.as_dict(private=False)]},
        }
        made = admin.post(replicas.urls[0] + "/oauth2/v1/clients", json=body)
        assert made.status_code == 201, made.text
        client_id = made.json()["client_id"]
        grant = {"issuer": PUBLIC_URL, "scopeId": SCOPE}
        granted = admin.post(replicas.urls[1] + f"/api/v1/apps/{client_id}/grants", json=grant)
        assert granted.status_code == 201, granted.text
        now = int(time.time())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": PUBLIC_URL + "/oauth2/v1/token",
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        pem = key.as_pem(private=True)
        form = {
            "grant_type": "client_credentials",
            "scope": SCOPE,
            "client_assertion_type": ASSERTION,
            "client_assertion": jwt.encode(claims, pem, algorithm="RS256", headers={"kid": "k1"}),
        }
    first = httpx.post(replicas.urls[0] + "/oauth2/v1/token", data=form, timeout=15)
    assert first.status_code == 200, first.text + replicas.logs()
    replay = httpx.post(replicas.urls[1] + "/oauth2/v1/token", data=form, timeout=15)
    assert replay.status_code == 401, replay.text
    assert replay.json() == {
        "error": "invalid_client",
        "error_description": "The client_assertion token has already been used.",
    }
