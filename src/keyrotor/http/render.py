"""Okta's JSON shapes: servers, keys, links, errors. Field order follows Okta's responses."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from keyrotor.clock import iso
from keyrotor.errors import InvalidClient, KeyrotorError, OAuthError, UseDpopNonce
from keyrotor.keys import SigningKey
from keyrotor.servers import AuthorizationServer

JSON_TYPE = "application/json"


class OktaJSON(Response):
    """Compact JSON with ``Content-Type: application/json`` (no charset, as Okta sends)."""

    media_type = JSON_TYPE

    def render(self, content: Any) -> bytes:
        return render_json(content)


def render_json(content: Any) -> bytes:
    text = json.dumps(content, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate got this far: JSON's \u escapes carry it
        return json.dumps(content, separators=(",", ":")).encode()


def memo_json(memo: dict[object, object], key: tuple[str, ...], render: Callable[[], Any]) -> bytes:
    """``render()`` as JSON bytes, kept in ``memo`` (a snapshot's or a page's) under ``key``."""
    found = memo.get(key)
    if not isinstance(found, bytes):
        found = memo[key] = render_json(render())
    return found


def base_url(request: Request) -> str:
    return base_url_of(request.scope, request.app.state.public_url)


_BASES: dict[tuple[object, ...], str] = {}  # base URLs already worked out, by what decides them


def base_url_of(scope: Scope, configured: str | None, host: bytes | None = None) -> str:
    """The configured public URL, else the one the request was sent to (worked out once
    per scheme, Host header and root path); ``host``: the Host header, if already found."""
    if configured:
        return configured.rstrip("/")
    if host is None:
        host = next((v for k, v in scope["headers"] if k == b"host"), None)
    where = tuple(scope.get("server") or ()) if host is None else ()  # without Host: the socket
    key = (scope.get("scheme"), host, scope.get("root_path"), scope.get("app_root_path"), where)
    found = _BASES.get(key)
    if found is None:
        found = str(Request(scope).base_url).rstrip("/")
        if len(_BASES) < 1024:
            _BASES[key] = found
    return found


def link(href: str, *allow: str) -> dict[str, Any]:
    return {"href": href, "hints": {"allow": list(allow)}}


def lifecycle_links(href: str, active: bool) -> dict[str, Any]:
    """What a credential's status allows, as Okta links it: an ACTIVE one can be
    deactivated; an INACTIVE one activated or deleted."""
    if active:
        return {"deactivate": link(f"{href}/lifecycle/deactivate", "POST")}
    return {
        "activate": link(f"{href}/lifecycle/activate", "POST"),
        "delete": link(href, "DELETE"),
    }


def issuer(base: str, server_id: str) -> str:
    return f"{base}/oauth2/{server_id}"


def server_json(server: AuthorizationServer, base: str) -> dict[str, Any]:
    """Okta's ``AuthorizationServer``: the links Okta shows for what keyrotor has (no
    ``claims`` or ``policies``: keyrotor has neither)."""
    self_href = f"{base}/api/v1/authorizationServers/{server.id}"
    signing: dict[str, Any] = {
        "rotationMode": server.rotation_mode.value,
        "lastRotated": iso(server.last_rotated),
    }
    if server.next_rotation is not None:
        signing["nextRotation"] = iso(server.next_rotation)
    signing["kid"] = server.kid
    meta = f"{issuer(base, server.id)}/.well-known"
    toggle = "deactivate" if server.is_active else "activate"
    shown: dict[str, Any] = {
        "id": server.id,
        "name": server.name,
        "description": server.description,
        "audiences": list(server.audiences),
        "issuer": issuer(base, server.id),
        "issuerMode": server.issuer_mode.value,
        "status": server.status.value,
        "created": iso(server.created),
        "lastUpdated": iso(server.last_updated),
        "credentials": {"signing": signing},
    }
    # access-token encryption: the algorithm when on, the keys when there are any
    if server.encryption_alg is not None:
        shown["accessTokenEncryptedResponseAlgorithm"] = server.encryption_alg
    if server.encryption_keys:
        shown["jwks"] = {"keys": [k.jwks_member() for k in server.encryption_keys]}
    shown["_links"] = {
        "scopes": link(f"{self_href}/scopes", "GET"),
        "rotateKey": link(f"{self_href}/credentials/lifecycle/keyRotate", "POST"),
        "metadata": [
            {"name": name, **link(f"{meta}/{name}", "GET")}
            for name in ("oauth-authorization-server", "openid-configuration")
        ],
        "keys": link(f"{self_href}/credentials/keys", "GET"),
        "self": link(self_href, "GET", "DELETE", "PUT"),
        toggle: link(f"{self_href}/lifecycle/{toggle}", "POST"),
    }
    return shown


def key_json(key: SigningKey, base: str, server_id: str) -> dict[str, Any]:
    href = f"{base}/api/v1/authorizationServers/{server_id}/credentials/keys/{key.kid}"
    return {
        "kty": "RSA",
        "status": key.status.value,
        "alg": "RS256",
        "kid": key.kid,
        "use": "sig",
        "_links": {"self": link(href, "GET")},
        "e": key.e,
        "n": key.n,
    }


def error_json(exc: KeyrotorError) -> dict[str, Any]:
    return {
        "errorCode": exc.code,
        "errorSummary": exc.summary,
        "errorLink": exc.code,
        "errorId": "oae" + secrets.token_urlsafe(16),
        "errorCauses": [{"errorSummary": cause} for cause in exc.causes],
    }


def error_response(exc: KeyrotorError, headers: dict[str, str] | None = None) -> OktaJSON:
    return OktaJSON(error_json(exc), status_code=exc.status, headers=headers)


def oauth_error_response(exc: OAuthError) -> OktaJSON:
    """RFC 6749's ``{"error", "error_description"}``, never cached."""
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if isinstance(exc, InvalidClient) and exc.basic:
        headers["WWW-Authenticate"] = 'Basic realm="keyrotor"'
    if isinstance(exc, UseDpopNonce):
        headers["DPoP-Nonce"] = exc.nonce
    body = {"error": exc.error, "error_description": exc.description}
    return OktaJSON(body, status_code=exc.status, headers=headers)
