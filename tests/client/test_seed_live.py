"""The seed's three examples, as Okta documents them, run unchanged against a real server.

Each example is run in its own Python process with only the host, the server id and the
key id filled in, and the environment the seed reads: ``API_KEY`` is the server's API token
and ``ACCESS_TOKEN`` is empty (the seed reads ``os.environ["ACCESS_TOKEN"]``, so it must be
set; an empty access token is ignored and the API token is sent as ``SSWS <token>``).
The last test runs it the other way round: ``API_KEY`` empty, ``ACCESS_TOKEN`` an org-server
access token, sent as ``Bearer <token>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

import okta

pytestmark = pytest.mark.e2e

PREAMBLE = """\
import os
import okta
from okta.models.authorization_server_json_web_key import AuthorizationServerJsonWebKey
from okta.models.jwk_use import JwkUse
from okta.rest import ApiException
from pprint import pprint

# Defining the host is optional and defaults to https://subdomain.okta.com
# See configuration.py for a list of all supported configuration parameters.
configuration = okta.Configuration(
    host = "https://subdomain.okta.com"
)

# The client must configure the authentication and authorization parameters
# in accordance with the API server security policy.
# Examples for each auth method are provided below, use the example that
# satisfies your auth use case.

# Configure API key authorization: apiToken
configuration.api_key['apiToken'] = os.environ["API_KEY"]

# Uncomment below to setup prefix (e.g. Bearer) for API key, if needed
# configuration.api_key_prefix['apiToken'] = 'Bearer'

configuration.access_token = os.environ["ACCESS_TOKEN"]
"""

LIST_EXAMPLE = """\
# Enter a context with an instance of the API client
with okta.ApiClient(configuration) as api_client:
    # Create an instance of the API class
    api_instance = okta.AuthorizationServerKeysApi(api_client)
    auth_server_id = 'auth_server_id_example' # str | `id` of the Authorization Server

    try:
        # List all credential keys
        api_response = api_instance.list_authorization_server_keys(auth_server_id)
        print("The response of AuthorizationServerKeysApi->list_authorization_server_keys:\\n")
        pprint(api_response)
    except Exception as e:
        print("Exception when calling AuthorizationServerKeysApi->list_authorization_server_keys: %s\\n" % e)
"""  # noqa: E501

GET_EXAMPLE = """\
# Enter a context with an instance of the API client
with okta.ApiClient(configuration) as api_client:
    # Create an instance of the API class
    api_instance = okta.AuthorizationServerKeysApi(api_client)
    auth_server_id = 'auth_server_id_example' # str | `id` of the Authorization Server
    key_id = 'key_id_example' # str | `id` of the certificate key

    try:
        # Retrieve an authorization server key
        api_response = api_instance.get_authorization_server_key(auth_server_id, key_id)
        print("The response of AuthorizationServerKeysApi->get_authorization_server_key:\\n")
        pprint(api_response)
    except Exception as e:
        print("Exception when calling AuthorizationServerKeysApi->get_authorization_server_key: %s\\n" % e)
"""  # noqa: E501

ROTATE_EXAMPLE = """\
# Enter a context with an instance of the API client
with okta.ApiClient(configuration) as api_client:
    # Create an instance of the API class
    api_instance = okta.AuthorizationServerKeysApi(api_client)
    auth_server_id = 'auth_server_id_example' # str | `id` of the Authorization Server
    use = okta.JwkUse() # JwkUse |

    try:
        # Rotate all credential keys
        api_response = api_instance.rotate_authorization_server_keys(auth_server_id, use)
        print("The response of AuthorizationServerKeysApi->rotate_authorization_server_keys:\\n")
        pprint(api_response)
    except Exception as e:
        print("Exception when calling AuthorizationServerKeysApi->rotate_authorization_server_keys: %s\\n" % e)
"""  # noqa: E501


def run_seed(
    example: str,
    live_server: Any,
    api_key: str | None = None,
    access_token: str = "",
    **values: str,
) -> str:
    """Run the preamble and ``example`` with the host and ids filled in; its stdout.

    ``API_KEY`` is the server's API token unless ``api_key`` is given; ``ACCESS_TOKEN`` is
    ``access_token`` (empty by default).
    """
    script = (PREAMBLE + example).replace("https://subdomain.okta.com", live_server.url)
    for placeholder, value in values.items():
        script = script.replace(f"'{placeholder}'", repr(value))
    api_key = live_server.token if api_key is None else api_key
    env = {**os.environ, "API_KEY": api_key, "ACCESS_TOKEN": access_token}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Exception when calling" not in result.stdout, result.stdout
    return result.stdout


def shown(key: okta.AuthorizationServerJsonWebKey) -> str:
    """How a key's status and kid appear in the pprint of the seed."""
    return f"status='{key.status}', alg='RS256', kid='{key.kid}', use='sig'"


@pytest.fixture
def keys_api(live_server: Any) -> Any:
    configuration = okta.Configuration(host=live_server.url)
    configuration.api_key["apiToken"] = live_server.token
    with okta.ApiClient(configuration) as api_client:
        yield okta.AuthorizationServerKeysApi(api_client)


def by_status(keys: list[okta.AuthorizationServerJsonWebKey]) -> dict[str, list[str]]:
    statuses: dict[str, list[str]] = {}
    for key in keys:
        statuses.setdefault(str(key.status), []).append(str(key.kid))
    return statuses


def test_seed_list(live_server: Any, keys_api: okta.AuthorizationServerKeysApi) -> None:
    """The list example prints the default server's keys: one ACTIVE, one NEXT."""
    out = run_seed(LIST_EXAMPLE, live_server, auth_server_id_example="default")
    assert out.startswith(
        "The response of AuthorizationServerKeysApi->list_authorization_server_keys:\n\n["
    )
    keys = keys_api.list_authorization_server_keys("default")
    assert len(by_status(keys)["ACTIVE"]) == 1 and len(by_status(keys)["NEXT"]) == 1
    for key in keys:
        assert shown(key) in out
    assert out.count("AuthorizationServerJsonWebKey(kty='RSA'") == len(keys)


def test_seed_get(live_server: Any, keys_api: okta.AuthorizationServerKeysApi) -> None:
    """The get example, with a real kid from the list, prints that one key."""
    active = next(
        k for k in keys_api.list_authorization_server_keys("default") if k.status == "ACTIVE"
    )
    assert active.kid is not None
    out = run_seed(
        GET_EXAMPLE, live_server, auth_server_id_example="default", key_id_example=active.kid
    )
    assert out.startswith(
        "The response of AuthorizationServerKeysApi->get_authorization_server_key:\n\n"
        "AuthorizationServerJsonWebKey(kty='RSA', "
    )
    assert shown(active) in out
    assert f"n='{active.n}'" in out and "e='AQAB'" in out


def test_seed_rotate(live_server: Any, keys_api: okta.AuthorizationServerKeysApi) -> None:
    """The rotate example with okta.JwkUse() rotates: ACTIVE -> EXPIRED, NEXT -> ACTIVE."""
    before = by_status(keys_api.list_authorization_server_keys("default"))
    out = run_seed(ROTATE_EXAMPLE, live_server, auth_server_id_example="default")
    assert out.startswith(
        "The response of AuthorizationServerKeysApi->rotate_authorization_server_keys:\n\n["
    )
    after = by_status(keys_api.list_authorization_server_keys("default"))
    assert before["ACTIVE"][0] in after["EXPIRED"]
    assert after["ACTIVE"] == before["NEXT"]
    assert len(after["NEXT"]) == 1 and after["NEXT"][0] not in before.get("EXPIRED", [])
    assert after["NEXT"] != before["NEXT"]
    for status, kids in after.items():
        for kid in kids:
            assert f"status='{status}', alg='RS256', kid='{kid}'" in out


def org_access_token(live_server: Any, scope: str) -> str:
    """An access token of the org server for ``scope``, via a client made with the CLI."""
    command = ["clients", "create", "seed-ops", "--org-scope", scope, "--json"]
    made = subprocess.run(
        [sys.executable, "-m", "keyrotor", *command, "--database", live_server.database],
        env=live_server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    client = json.loads(made.stdout)
    response = httpx.post(
        f"{live_server.url}/oauth2/v1/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_seed_list_with_only_an_access_token(
    live_server: Any, keys_api: okta.AuthorizationServerKeysApi
) -> None:
    """API_KEY empty and ACCESS_TOKEN set: the seed authenticates with Bearer <token>."""
    token = org_access_token(live_server, "okta.authorizationServers.read")
    out = run_seed(
        LIST_EXAMPLE,
        live_server,
        api_key="",
        access_token=token,
        auth_server_id_example="default",
    )
    assert out.startswith(
        "The response of AuthorizationServerKeysApi->list_authorization_server_keys:\n\n["
    )
    for key in keys_api.list_authorization_server_keys("default"):
        assert shown(key) in out
