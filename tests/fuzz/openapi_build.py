"""Builds keyrotor's OpenAPI 3.1 document (``src/keyrotor/http/openapi.json``, served at
``GET /openapi.json``) from Okta's own published description (``tests/okta_spec.py``'s
``SPEC_PATH``).

Regenerate after changing a route or this file::

    .venv/bin/python -m tests.fuzz.openapi_build

``tests/fuzz/test_openapi_document.py`` fails while the shipped file differs from what
this builds, or while the app's routes and the document's operations differ.

What it does to Okta's document:

- keeps the operations keyrotor serves (``OKTA``) and every component they reference,
  nothing else;
- converts OpenAPI 3.0 to 3.1: ``nullable`` becomes a type union with ``"null"`` (``null``
  joins an ``enum``), a schema's ``example`` becomes ``examples``, a ``$ref``'s siblings
  that 3.0 ignored are dropped (annotations kept);
- fixes the spec's known defects (its README) where they would make a correct answer
  invalid, each in ``_fix_defects`` with its reason;
- states what keyrotor guarantees beyond Okta's text: every error body has all its
  members (``required``); every answer carries ``X-Okta-Request-Id`` and ``Date``;
  the statuses keyrotor answers that Okta leaves out (401 on the management API, 400 for
  input refused at the edge, 404 for a path no resource has, 413 for a body too large,
  503 while the store is down); which query parameters keyrotor ignores;
- puts keyrotor's security in place of Okta's (an API token, or an org-server access
  token with the scope each route requires), and adds OpenAPI links (create → get, list,
  rotate, …) for stateful testing;
- adds keyrotor's own operations: the org server's discovery documents, ``/healthz``,
  ``/readyz``, ``/metrics`` and ``/openapi.json`` itself.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyrotor
from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.clients import AuthMethod
from tests.okta_spec import PROJECT, SPEC_PATH, with_null

SHIPPED = PROJECT / "src" / "keyrotor" / "http" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
READ, MANAGE = SCOPE_READ, SCOPE_MANAGE
PUBLIC = None
API_TOKEN_ONLY = "api-token-only"

# Okta's operations keyrotor serves, and what a caller needs for each
OKTA: dict[str, str | None] = {
    "listAuthorizationServers": READ,
    "createAuthorizationServer": MANAGE,
    "getAuthorizationServer": READ,
    "replaceAuthorizationServer": MANAGE,
    "deleteAuthorizationServer": MANAGE,
    "activateAuthorizationServer": MANAGE,
    "deactivateAuthorizationServer": MANAGE,
    "listAuthorizationServerKeys": READ,
    "getAuthorizationServerKey": READ,
    "rotateAuthorizationServerKeys": MANAGE,
    "listOAuth2Scopes": READ,
    "createOAuth2Scope": MANAGE,
    "getOAuth2Scope": READ,
    "replaceOAuth2Scope": MANAGE,
    "deleteOAuth2Scope": MANAGE,
    "listOAuth2ResourceServerJsonWebKeys": READ,
    "addOAuth2ResourceServerJsonWebKey": MANAGE,
    "getOAuth2ResourceServerJsonWebKey": READ,
    "deleteOAuth2ResourceServerJsonWebKey": MANAGE,
    "activateOAuth2ResourceServerJsonWebKey": MANAGE,
    "deactivateOAuth2ResourceServerJsonWebKey": MANAGE,
    "listScopeConsentGrants": READ,
    "grantConsentToScope": MANAGE,
    "getScopeConsentGrant": READ,
    "revokeScopeConsentGrant": MANAGE,
    "listOAuth2ClientSecrets": READ,
    "createOAuth2ClientSecret": MANAGE,
    "getOAuth2ClientSecret": READ,
    "deleteOAuth2ClientSecret": MANAGE,
    "activateOAuth2ClientSecret": MANAGE,
    "deactivateOAuth2ClientSecret": MANAGE,
    "listJwk": READ,
    "addJwk": MANAGE,
    "getJwk": READ,
    "deletejwk": MANAGE,
    "activateOAuth2ClientJsonWebKey": MANAGE,
    "deactivateOAuth2ClientJsonWebKey": MANAGE,
    "listApiTokens": MANAGE,
    "revokeCurrentApiToken": API_TOKEN_ONLY,
    "getApiToken": MANAGE,
    "revokeApiToken": MANAGE,
    "listLogEvents": READ,
    "listClients": READ,
    "createClient": MANAGE,
    "getClient": READ,
    "replaceClient": MANAGE,
    "deleteClient": MANAGE,
    "generateNewClientSecret": MANAGE,
    "token": PUBLIC,
    "tokenCustomAS": PUBLIC,
    "oauthKeys": PUBLIC,
    "oauthKeysCustomAS": PUBLIC,
    "getWellKnownOpenIDConfigurationCustomAS": PUBLIC,
    "getWellKnownOAuthConfigurationCustomAS": PUBLIC,
}
# the query parameters keyrotor reads; Okta's others are accepted and ignored
READS_QUERY: dict[str, set[str]] = {
    "listAuthorizationServers": {"q", "limit", "after"},
    "listLogEvents": {"since", "until", "after", "filter", "q", "limit", "sortOrder"},
    "getWellKnownOpenIDConfigurationCustomAS": {"client_id"},
    "getWellKnownOAuthConfigurationCustomAS": {"client_id"},
}
TOKEN_OPERATIONS = ("token", "tokenCustomAS")
CLIENT_AUTH = {
    AuthMethod.BASIC: "Client_authentication_client_secret_basic",
    AuthMethod.POST: "Client_authentication_client_secret_post",
    AuthMethod.PRIVATE_KEY_JWT: "Client_authentication_private_key_jwt",
}
REF = "#/components/"


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"{REF}{kind}/{name}"}


def build(okta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The document, from Okta's (read from ``SPEC_PATH`` by default)."""
    source = okta if okta is not None else json.loads(SPEC_PATH.read_text())
    components = copy.deepcopy(source["components"])
    paths: dict[str, Any] = {}
    served = set(OKTA)
    for path, item in source["paths"].items():
        kept = {m: copy.deepcopy(op) for m, op in item.items() if m in METHODS}
        kept = {m: op for m, op in kept.items() if op["operationId"] in served}
        if not kept:
            continue
        shared = [copy.deepcopy(p) for p in item.get("parameters", [])]
        for method, operation in kept.items():
            served.discard(operation["operationId"])
            operation["parameters"] = shared + operation.get("parameters", [])
            paths.setdefault(path, {})[method] = _okta_operation(path, operation, components)
    if served:
        raise KeyError(f"not in Okta's description: {sorted(served)}")
    _fix_defects(components)
    _add_keyrotor_components(components)
    paths.update(_keyrotor_operations())
    _add_links(paths)
    for path_item in paths.values():
        for operation in path_item.values():
            for response in operation["responses"].values():
                if "$ref" not in response:
                    _with_okta_headers(response)
    for response in components["responses"].values():
        _with_okta_headers(response)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "keyrotor",
            "version": keyrotor.__version__,
            "description": _description(source),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": dict(sorted(paths.items())),
        "components": components,
    }
    document["components"] = _referenced(document)
    return _to_31(document)


def _description(source: dict[str, Any]) -> str:
    origin = source["info"].get("description", "").split(" (")[0]
    return (
        "Okta's management API for custom authorization servers, their keys and scopes, "
        "OAuth 2.0 clients, app grants, API tokens and the System Log; the token, JWKS and "
        "discovery endpoints; and keyrotor's own health checks. Okta's operations keep "
        "Okta's request and response schemas. "
        f"{origin}; the differences (defects fixed, statuses keyrotor adds, keyrotor's "
        "security) are listed in tests/fuzz/openapi_build.py."
    )


# -- Okta's operations ------------------------------------------------------------------


def _okta_operation(path: str, operation: dict[str, Any], components: dict[str, Any]) -> Any:
    op_id = operation["operationId"]
    for key in [k for k in operation if k.startswith("x-")]:
        del operation[key]
    reads = READS_QUERY.get(op_id, set())
    for parameter in operation["parameters"]:
        found = copy.deepcopy(_resolve(components, parameter))
        if found.get("in") == "query" and found["name"] not in reads:
            # accepted as any text and ignored: its constraints are Okta's, not checked here
            parameter.clear()
            parameter.update(found)
            parameter["schema"] = {"type": "string"}
            parameter.pop("example", None)
            parameter["description"] = (
                parameter.get("description", "") + "\n\nkeyrotor accepts and ignores it."
            ).strip()
    if not operation["parameters"]:
        del operation["parameters"]
    needs = OKTA[op_id]
    if op_id in TOKEN_OPERATIONS:
        operation["security"] = [{name: []} for name in CLIENT_AUTH.values()]
    elif needs == API_TOKEN_ONLY:
        operation["security"] = [{"apiToken": []}]
    elif needs is not None:
        operation["security"] = [{"apiToken": []}, {"oauth2": [needs]}]
    _keyrotor_statuses(path, operation)
    return operation


def _keyrotor_statuses(path: str, operation: dict[str, Any]) -> None:
    """The statuses keyrotor answers that Okta's text leaves out."""
    responses = operation["responses"]
    op_id = operation["operationId"]
    token = op_id in TOKEN_OPERATIONS
    if OKTA[op_id] is not None and not token:
        # spec defect (README): no management operation documents 401
        responses.setdefault("401", ref("responses", "ErrorInvalidToken401"))
    if token:
        responses.setdefault("404", ref("responses", "KeyrotorNotFound404"))
    if op_id == "generateNewClientSecret":  # a client without a secret: RFC 6749's body
        responses.setdefault("400", ref("responses", "KeyrotorClientBadRequest400"))
    responses.setdefault("400", ref("responses", "KeyrotorBadRequest400"))
    if "{" in path:  # spec defect (README): e.g. an unknown server at /oauth2/{id}/v1/keys
        responses.setdefault("404", ref("responses", "KeyrotorNotFound404"))
    if "requestBody" in operation:
        name = "KeyrotorTokenTooLarge413" if token else "KeyrotorPayloadTooLarge413"
        responses.setdefault("413", ref("responses", name))
    responses.setdefault("429", ref("responses", "ErrorTooManyRequests429"))
    responses.setdefault("503", ref("responses", "KeyrotorUnavailable503"))
    if op_id in ("oauthKeys", "oauthKeysCustomAS"):
        _conditional_jwks(operation)
    operation["responses"] = dict(sorted(responses.items()))


def _conditional_jwks(operation: dict[str, Any]) -> None:
    """keyrotor's JWKS carries an ``ETag`` and answers ``If-None-Match`` with 304."""
    operation["parameters"] = [
        *operation.get("parameters", []),
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "The ETag of a JWKS already held: 304 while it is current.",
            "schema": {"type": "string"},
        },
    ]
    ok = operation["responses"]["200"]
    ok.setdefault("headers", {})["ETag"] = {
        "description": "The JWKS's entity tag (identical on every replica).",
        "schema": {"type": "string"},
    }
    operation["responses"]["304"] = {
        "description": "Not Modified: the JWKS named by If-None-Match is current.",
        "headers": {
            "ETag": {"schema": {"type": "string"}},
            "Cache-Control": {"schema": {"type": "string"}},
        },
    }


# -- Okta's defects, and what keyrotor guarantees -----------------------------------------


def _fix_defects(components: dict[str, Any]) -> None:
    schemas = components["schemas"]
    client = schemas["Client"]["properties"]
    # Spec defect (README): `Client.post_logout_redirect_uris` is typed string, though Okta's
    # own examples give an array of strings.
    client["post_logout_redirect_uris"] = {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": client["post_logout_redirect_uris"].get("description", ""),
    }
    # Spec defect (README): ClientResponseServiceJwks has `"use": null`, which fails the
    # key's own schema: `use` may be null in a client's `jwks`.
    for name in ("JsonSigningWebKey", "JsonEncryptionWebKey"):
        schemas[name]["properties"]["use"]["nullable"] = True
    # Spec defect (tests/okta_spec.py): a key without `use` is both a signing and an
    # encryption key, so `oneOf` refuses it: either will do (`anyOf`).
    items = client["jwks"]["properties"]["keys"]["items"]
    if "oneOf" in items:
        items["anyOf"] = items.pop("oneOf")
    # Spec defect (README): JsonSigningWebKey names JsonWebKeyRsa/JsonWebKeyEC in `oneOf`,
    # and they name it back in `allOf`: a cycle. The back-reference means inheritance, and
    # the parent already holds the child's branch, so it goes.
    for name, schema in schemas.items():
        entries = schema.get("allOf")
        if not entries:
            continue
        kept = [e for e in entries if not _names_back(name, e, schemas)]
        if len(kept) != len(entries):
            if kept:
                schema["allOf"] = kept
            else:
                del schema["allOf"]
    # Spec defect (README): `JwkUse` does not require `use`, though a rotation without it
    # is refused (by Okta and keyrotor alike) with 400.
    schemas["JwkUse"]["required"] = ["use"]
    # Spec defect (found by fuzzing): JsonWebKey's discriminator on `kty` maps the values
    # of `use` ("sig", "enc"), so every real key (kty RSA or EC) fails it.
    schemas["JsonWebKey"].pop("discriminator")
    # Spec defect (README): the registration's 400 names Okta's `Error`, but its example
    # (and what Okta sends) is RFC 7591's {error, error_description}; Okta's own body stays
    # for what is refused before the metadata is read (a header, say).
    metadata = components["responses"]["ErrorInvalidClientMetadata400"]
    metadata["content"]["application/json"]["schema"] = {
        "oneOf": [ref("schemas", "OAuthError"), ref("schemas", "Error__oauth")]
    }
    # keyrotor's guarantee: every error body has all its members
    for name in ("Error", "Error__oauth"):
        schemas[name]["required"] = [
            "errorCode",
            "errorSummary",
            "errorLink",
            "errorId",
            "errorCauses",
        ]
    schemas["OAuthError"]["required"] = ["error", "error_description"]


def _names_back(name: str, entry: dict[str, Any], schemas: dict[str, Any]) -> bool:
    target = entry.get("$ref", "")
    parent = schemas.get(target.rsplit("/", 1)[-1], {}) if target.startswith(REF) else {}
    branches = [*parent.get("oneOf", []), *parent.get("anyOf", [])]
    return any(b.get("$ref", "").endswith(f"/{name}") for b in branches)


def _error(description: str, schema: str = "Error") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": ref("schemas", schema)}},
    }


def _add_keyrotor_components(components: dict[str, Any]) -> None:
    responses = components["responses"]
    responses["KeyrotorBadRequest400"] = _error(
        "Bad Request: input refused (E0000001, E0000003 or E0000021). A NUL character or a "
        "lone surrogate in the query or a header is refused before anything reads it."
    )
    responses["KeyrotorClientBadRequest400"] = _error(
        "Bad Request: RFC 6749's invalid_request (a private_key_jwt client has no secret to "
        "renew), or Okta's body for input refused before the client is read."
    )
    responses["KeyrotorClientBadRequest400"]["content"]["application/json"]["schema"] = {
        "oneOf": [ref("schemas", "OAuthError"), ref("schemas", "Error__oauth")]
    }
    responses["KeyrotorNotFound404"] = _error(
        "Not Found: no such resource (E0000007); a NUL character or a lone surrogate in "
        "the path names none."
    )
    responses["KeyrotorPayloadTooLarge413"] = _error(
        "Payload Too Large: a body over 65,536 bytes (E0000001)."
    )
    responses["KeyrotorTokenTooLarge413"] = _error(
        "Payload Too Large: a body over 65,536 bytes (invalid_request).", "OAuthError"
    )
    responses["KeyrotorUnavailable503"] = _error(
        "Service Unavailable: the key store cannot be reached (E0000009)."
    )
    headers = components.setdefault("headers", {})
    headers["X-Okta-Request-Id"] = {
        "description": "Names this request in keyrotor's logs; on every answer.",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    }
    headers["Date"] = {
        "description": "When the answer was made (RFC 9110); on every answer.",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    }
    schemes = components["securitySchemes"]
    schemes["oauth2"] = {
        "type": "oauth2",
        "description": (
            "An access token of the org authorization server, as `Authorization: Bearer "
            "{token}` (or `DPoP {token}` with its proof), for a client granted the scope "
            "(`/api/v1/apps/{appId}/grants`)."
        ),
        "flows": {
            "clientCredentials": {
                "tokenUrl": "/oauth2/v1/token",
                "scopes": {
                    READ: "Read authorization servers, keys, scopes, clients and logs",
                    MANAGE: "Manage them all (reads included)",
                },
            }
        },
    }


def _keyrotor_operations() -> dict[str, Any]:
    metadata = {
        "openid-configuration": ("getWellKnownOpenIDConfiguration", "OidcMetadata"),
        "oauth-authorization-server": ("getWellKnownOAuthConfiguration", "OAuthMetadata"),
    }
    paths: dict[str, Any] = {}
    for document, (op_id, schema) in metadata.items():
        paths[f"/.well-known/{document}"] = {
            "get": {
                "summary": f"The org authorization server's {document} metadata",
                "description": (
                    "The org authorization server (its tokens carry the management API's "
                    "scopes) as RFC 8414 / OpenID discovery describes it."
                ),
                "operationId": op_id,
                "tags": ["OrgAS"],
                "parameters": [ref("parameters", "queryClientId")],
                "responses": {
                    "200": {
                        "description": "Success",
                        "content": {"application/json": {"schema": ref("schemas", schema)}},
                    },
                    "400": ref("responses", "Error400InvalidClientId"),
                    "429": ref("responses", "ErrorTooManyRequests429"),
                    "503": ref("responses", "KeyrotorUnavailable503"),
                },
            }
        }
    for item in paths.values():
        item["get"]["responses"].setdefault("400", ref("responses", "KeyrotorBadRequest400"))
    paths.update(_revoke_key_operation())
    paths.update(_event_hook_operations())
    status = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    }
    paths["/healthz"] = {
        "get": {
            "summary": "Liveness",
            "description": "The process answers (it reads nothing).",
            "operationId": "getHealth",
            "tags": ["keyrotor"],
            "responses": {
                "200": {
                    "description": "Alive",
                    "content": {
                        "application/json": {
                            "schema": {**status, "properties": {"status": {"const": "ok"}}}
                        }
                    },
                },
            },
        }
    }
    paths["/readyz"] = {
        "get": {
            "summary": "Readiness",
            "description": (
                "The store answers and this replica's key-encryption keys open every ACTIVE "
                "key; a load balancer takes the replica out otherwise."
            ),
            "operationId": "getReadiness",
            "tags": ["keyrotor"],
            "responses": {
                "200": {
                    "description": "Ready",
                    "content": {
                        "application/json": {
                            "schema": {**status, "properties": {"status": {"const": "ready"}}}
                        }
                    },
                },
                "503": ref("responses", "KeyrotorUnavailable503"),
            },
        }
    }
    for path in ("/healthz", "/readyz"):
        responses = paths[path]["get"]["responses"]
        responses["400"] = ref("responses", "KeyrotorBadRequest400")
    paths["/openapi.json"] = {
        "get": {
            "summary": "This document",
            "description": "keyrotor's OpenAPI 3.1 description of every route it serves.",
            "operationId": "getOpenApiDocument",
            "tags": ["keyrotor"],
            "responses": {
                "200": {
                    "description": "The document",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["openapi", "info", "paths"],
                            }
                        }
                    },
                },
                "304": {"description": "Not Modified: the document named by If-None-Match."},
                "400": ref("responses", "KeyrotorBadRequest400"),
            },
        }
    }
    exposition = {"schema": {"type": "string"}}
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics",
            "description": (
                "This replica's counters (requests, tokens, rotations, store errors) and "
                "the store's state per server (key age, next rotation, keys safe to retire, "
                "the key pool), in Prometheus's text format or OpenMetrics (as `Accept` "
                "asks); docs/operations.md. Open unless `serve --metrics-token` is set, "
                "then `Authorization: Bearer <token>` is required; absent with "
                "`--no-metrics`."
            ),
            "operationId": "getMetrics",
            "tags": ["keyrotor"],
            "responses": {
                "200": {
                    "description": "The metrics",
                    "content": {
                        "text/plain": exposition,
                        "application/openmetrics-text": exposition,
                    },
                },
                "400": ref("responses", "KeyrotorBadRequest400"),
                "401": _error(
                    "Unauthorized: a metrics token is set and the request did not send it "
                    "as `Authorization: Bearer` (E0000011)."
                ),
            },
        }
    }
    return paths


def _revoke_key_operation() -> dict[str, Any]:
    """keyrotor's extension (not Okta's): the emergency revoke of one signing key."""
    path = "/api/v1/authorizationServers/{authServerId}/credentials/keys/{keyId}/lifecycle/revoke"
    key = ref("schemas", "AuthorizationServerJsonWebKey")
    operation = {
        "summary": "Revoke a signing key at once (keyrotor extension, not Okta's)",
        "description": (
            "keyrotor's extension: the key becomes `REVOKED`. It leaves the JWKS "
            "(`/oauth2/{id}/v1/keys`, and so the discovery's `jwks_uri`) and the key list "
            "at once, with a new ETag, and never signs again. An `ACTIVE` key is replaced as "
            "a rotation would replace it (`NEXT` becomes `ACTIVE`, a fresh `NEXT` is made, "
            "an `AUTO` schedule restarts from now); a `NEXT` key by a fresh `NEXT`; an "
            "`EXPIRED` key just leaves. Revoking a `REVOKED` key again answers it, "
            "unchanged. No request body is read. Answers the key, with `status` "
            "`REVOKED`; the key list and get-by-kid do not show revoked keys (they show "
            "only Okta's statuses). Recorded in the System Log as "
            "`keyrotor.key.lifecycle.revoke`."
        ),
        "operationId": "revokeAuthorizationServerKey",
        "tags": ["AuthorizationServerKeys"],
        "x-keyrotor-extension": True,
        "parameters": [
            ref("parameters", "pathAuthServerId"),
            ref("parameters", "pathCredentialKeyId"),
        ],
        "responses": {
            "200": {
                "description": "The key, now REVOKED",
                "content": {"application/json": {"schema": key}},
            },
            "400": ref("responses", "KeyrotorBadRequest400"),
            "401": ref("responses", "ErrorInvalidToken401"),
            "403": ref("responses", "ErrorAccessDenied403"),
            "404": ref("responses", "ErrorResourceNotFound404"),
            "429": ref("responses", "ErrorTooManyRequests429"),
            "503": ref("responses", "KeyrotorUnavailable503"),
        },
        "security": [{"apiToken": []}, {"oauth2": [MANAGE]}],
    }
    return {path: {"post": operation}}


def _event_hook_operations() -> dict[str, Any]:
    """Okta's Event Hooks API (not in Okta's spec subset: described here after Okta's
    public API reference), keyrotor's event types; the authScheme value is write-only."""
    header = {
        "type": "object",
        "required": ["key", "value"],
        "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
    }
    auth = {
        "type": ["object", "null"],
        "required": ["type", "key"],
        "properties": {
            "type": {"const": "HEADER"},
            "key": {"type": "string"},
            "value": {
                "type": "string",
                "writeOnly": True,
                "description": "The shared secret: stored sealed, never answered.",
            },
        },
    }
    hook = {
        "type": "object",
        "required": ["name", "events", "channel"],
        "properties": {
            "id": {"type": "string", "readOnly": True},
            "status": {"enum": ["ACTIVE", "INACTIVE"], "readOnly": True},
            "verificationStatus": {"enum": ["VERIFIED", "UNVERIFIED"], "readOnly": True},
            "name": {"type": "string", "maxLength": 255},
            "description": {"type": ["string", "null"], "maxLength": 1024},
            "created": {"type": "string", "format": "date-time", "readOnly": True},
            "createdBy": {"type": "string", "readOnly": True},
            "lastUpdated": {"type": "string", "format": "date-time", "readOnly": True},
            "events": {
                "type": "object",
                "required": ["type", "items"],
                "properties": {
                    "type": {"const": "EVENT_TYPE"},
                    "items": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "filter": {"type": "null"},
                },
            },
            "channel": {
                "type": "object",
                "required": ["type", "version", "config"],
                "properties": {
                    "type": {"const": "HTTP"},
                    "version": {"const": "1.0.0"},
                    "config": {
                        "type": "object",
                        "required": ["uri"],
                        "properties": {
                            "uri": {"type": "string", "format": "uri"},
                            "headers": {"type": "array", "items": header, "maxItems": 20},
                            "method": {"const": "POST"},
                            "authScheme": auth,
                        },
                    },
                },
            },
            "_links": {"type": "object", "readOnly": True},
        },
    }
    one = {"application/json": {"schema": hook}}
    hook_id = {
        "name": "eventHookId",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "`id` of the event hook",
    }
    errors = {
        "400": ref("responses", "KeyrotorBadRequest400"),
        "401": ref("responses", "ErrorInvalidToken401"),
        "403": ref("responses", "ErrorAccessDenied403"),
        "429": ref("responses", "ErrorTooManyRequests429"),
        "503": ref("responses", "KeyrotorUnavailable503"),
    }
    found = {**errors, "404": ref("responses", "ErrorResourceNotFound404")}

    def operation(op_id: str, summary: str, answer: dict[str, Any], **more: Any) -> Any:
        return {
            "summary": summary,
            "description": (
                f"{summary}, as Okta's Event Hooks API (its description is not in Okta's "
                "spec subset keyrotor is built from). Events are keyrotor's audit event "
                "types (the System Log's); an `https://` URL on a public host, or loopback "
                "under `serve --test-mode` only. The `authScheme` value is never answered."
            ),
            "operationId": op_id,
            "tags": ["EventHook"],
            "responses": {**answer, **(found if "parameters" in more else errors)},
            "security": [{"apiToken": []}, {"oauth2": [MANAGE]}],
            **more,
        }

    ok = {"200": {"description": "The event hook", "content": one}}
    path = "/api/v1/eventHooks"
    item = path + "/{eventHookId}"
    listed = {"application/json": {"schema": {"type": "array", "items": hook}}}
    paths: dict[str, Any] = {
        path: {
            "get": operation(
                "listEventHooks",
                "List all event hooks",
                {"200": {"description": "Hooks", "content": listed}},
            ),
            "post": operation(
                "createEventHook",
                "Create an event hook",
                ok,
                requestBody={"required": True, "content": one},
            ),
        },
        item: {
            "get": operation("getEventHook", "Retrieve an event hook", ok, parameters=[hook_id]),
            "put": operation(
                "replaceEventHook",
                "Replace an event hook",
                ok,
                parameters=[hook_id],
                requestBody={"required": True, "content": one},
            ),
            "delete": operation(
                "deleteEventHook",
                "Delete an INACTIVE event hook",
                {"204": {"description": "Deleted"}},
                parameters=[hook_id],
            ),
        },
    }
    for verb, summary in [
        ("activate", "Activate an event hook"),
        ("deactivate", "Deactivate an event hook"),
        ("verify", "Verify an event hook (a GET with X-Okta-Verification-Challenge)"),
    ]:
        paths[f"{item}/lifecycle/{verb}"] = {
            "post": operation(f"{verb}EventHook", summary, ok, parameters=[hook_id])
        }
    return paths


# -- links, for stateful testing ----------------------------------------------------------


def _add_links(paths: dict[str, Any]) -> None:
    by_id = {op["operationId"]: op for item in paths.values() for op in item.values()}

    def links(op_id: str, status: str, **found: tuple[str, dict[str, str]]) -> None:
        response = by_id[op_id]["responses"][status]
        response["links"] = {
            name: {"operationId": target, "parameters": parameters}
            for name, (target, parameters) in found.items()
        }

    server = {"authServerId": "$response.body#/id"}
    links(
        "createAuthorizationServer",
        "201",
        GetServer=("getAuthorizationServer", server),
        ReplaceServer=("replaceAuthorizationServer", server),
        ListKeys=("listAuthorizationServerKeys", server),
        RotateKeys=("rotateAuthorizationServerKeys", server),
        Deactivate=("deactivateAuthorizationServer", server),
        Activate=("activateAuthorizationServer", server),
        CreateScope=("createOAuth2Scope", server),
        ListScopes=("listOAuth2Scopes", server),
        Jwks=("oauthKeysCustomAS", {"authorizationServerId": "$response.body#/id"}),
        DeleteServer=("deleteAuthorizationServer", server),
    )
    key = {"authServerId": "$request.path.authServerId", "keyId": "$response.body#/0/kid"}
    links("rotateAuthorizationServerKeys", "200", GetKey=("getAuthorizationServerKey", key))
    links("listAuthorizationServerKeys", "200", GetKey=("getAuthorizationServerKey", key))
    scope = {"authServerId": "$request.path.authServerId", "scopeId": "$response.body#/id"}
    links(
        "createOAuth2Scope",
        "201",
        GetScope=("getOAuth2Scope", scope),
        ReplaceScope=("replaceOAuth2Scope", scope),
        DeleteScope=("deleteOAuth2Scope", scope),
    )
    enc_key = {"authServerId": "$request.path.authServerId", "keyId": "$response.body#/id"}
    links(
        "addOAuth2ResourceServerJsonWebKey",
        "201",
        GetEncryptionKey=("getOAuth2ResourceServerJsonWebKey", enc_key),
        ActivateEncryptionKey=("activateOAuth2ResourceServerJsonWebKey", enc_key),
        DeactivateEncryptionKey=("deactivateOAuth2ResourceServerJsonWebKey", enc_key),
        DeleteEncryptionKey=("deleteOAuth2ResourceServerJsonWebKey", enc_key),
    )
    client = {"clientId": "$response.body#/client_id"}
    app = {"appId": "$response.body#/client_id"}
    links(
        "createClient",
        "201",
        GetClient=("getClient", client),
        ReplaceClient=("replaceClient", client),
        NewSecret=("generateNewClientSecret", client),
        ListGrants=("listScopeConsentGrants", app),
        Grant=("grantConsentToScope", app),
        ListSecrets=("listOAuth2ClientSecrets", app),
        CreateSecret=("createOAuth2ClientSecret", app),
        ListJwks=("listJwk", app),
        AddJwk=("addJwk", app),
        DeleteClient=("deleteClient", client),
    )
    jwk = {"appId": "$request.path.appId", "keyId": "$response.body#/id"}
    links(
        "addJwk",
        "201",
        GetJwk=("getJwk", jwk),
        ActivateJwk=("activateOAuth2ClientJsonWebKey", jwk),
        DeactivateJwk=("deactivateOAuth2ClientJsonWebKey", jwk),
        DeleteJwk=("deletejwk", jwk),
    )
    grant = {"appId": "$request.path.appId", "grantId": "$response.body#/id"}
    links(
        "grantConsentToScope",
        "201",
        GetGrant=("getScopeConsentGrant", grant),
        RevokeGrant=("revokeScopeConsentGrant", grant),
    )
    secret = {"appId": "$request.path.appId", "secretId": "$response.body#/id"}
    links(
        "createOAuth2ClientSecret",
        "201",
        GetSecret=("getOAuth2ClientSecret", secret),
        DeactivateSecret=("deactivateOAuth2ClientSecret", secret),
        ActivateSecret=("activateOAuth2ClientSecret", secret),
        DeleteSecret=("deleteOAuth2ClientSecret", secret),
    )


# -- headers ------------------------------------------------------------------------------


def _with_okta_headers(response: dict[str, Any]) -> None:
    headers = response.setdefault("headers", {})
    headers.setdefault("X-Okta-Request-Id", ref("headers", "X-Okta-Request-Id"))
    headers.setdefault("Date", ref("headers", "Date"))


# -- references ---------------------------------------------------------------------------


def _resolve(components: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        kind, name = node["$ref"][len(REF) :].split("/", 1)
        node = components[kind][name]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key == "mapping" and isinstance(value, dict):  # a discriminator's
                yield from (v for v in value.values() if isinstance(v, str))
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _referenced(document: dict[str, Any]) -> dict[str, Any]:
    """The components the paths reach (through each other too), nothing more."""
    components = document["components"]
    seen: set[tuple[str, str]] = set()
    todo = list(_refs(document["paths"]))
    for path_item in document["paths"].values():  # security names schemes, not refs
        for operation in path_item.values():
            for requirement in operation.get("security", []):
                todo.extend(f"{REF}securitySchemes/{name}" for name in requirement)
    while todo:
        found = todo.pop()
        if not found.startswith(REF):
            raise ValueError(f"only local references are expected, not {found!r}")
        kind, name = found[len(REF) :].split("/", 1)
        if (kind, name) in seen:
            continue
        seen.add((kind, name))
        todo.extend(_refs(components[kind][name]))
    kept: dict[str, Any] = {}
    for kind in sorted(components):
        names = sorted(name for k, name in seen if k == kind)
        if names:
            kept[kind] = {name: components[kind][name] for name in names}
    return kept


# -- OpenAPI 3.0 → 3.1 --------------------------------------------------------------------

_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = ("items", "not", "additionalProperties", "contains", "if", "then", "else")
_ANNOTATIONS = ("description", "readOnly", "writeOnly", "title", "deprecated")


def _to_31(document: dict[str, Any]) -> dict[str, Any]:
    """Every schema of the document (components, parameters, bodies, responses, headers)
    converted; everything else as it was."""
    return _walk(document)


def _walk(node: Any) -> Any:
    if isinstance(node, list):
        return [_walk(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "schema" and isinstance(value, dict):
            out[key] = schema_31(value)
        elif key == "schemas" and isinstance(value, dict):  # components.schemas
            out[key] = {name: schema_31(schema) for name, schema in value.items()}
        elif key in ("examples", "example", "value"):  # examples are data, not schemas
            out[key] = copy.deepcopy(value)
        else:
            out[key] = _walk(value)
    return out


def schema_31(node: Any) -> Any:
    """One OpenAPI 3.0 schema as a 3.1 (JSON Schema 2020-12) schema."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = {"$ref": node["$ref"]}
        target.update({k: node[k] for k in _ANNOTATIONS if k in node})
        if node.get("nullable") is True:
            return {"anyOf": [{"type": "null"}, target]}
        return target
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "nullable":
            continue
        if key == "example":
            out["examples"] = [copy.deepcopy(value)]
        elif key == "properties":
            out[key] = {name: schema_31(schema) for name, schema in value.items()}
        elif key in _SCHEMA_LISTS:
            out[key] = [schema_31(item) for item in value]
        elif key in _SCHEMA_ONE and isinstance(value, dict):
            out[key] = schema_31(value)
        else:
            out[key] = copy.deepcopy(value)
    return with_null(out) if node.get("nullable") is True else out


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main(target: Path = SHIPPED) -> None:
    target.write_text(render(build()))
    print(f"wrote {target.relative_to(PROJECT)}")


if __name__ == "__main__":
    main()
