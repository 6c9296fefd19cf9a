"""Run by Okta's published `okta` 3.4.6 SDK (its own venv) in PrivateKey mode.

Usage: python okta_sdk_private_key.py URL CLIENT_ID PRIVATE_JWK DPOP. The client was
registered and granted through keyrotor's routes beforehand. Prints one JSON object of what
the SDK saw: the token type it got, the servers and keys it listed, the rotation it made.
"""

import asyncio
import json
import os
import sys

os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"  # the server is http://127.0.0.1

from okta.client import Client

from okta.models.jwk_use import JwkUse


async def main(url: str, client_id: str, private_jwk: str, dpop: bool) -> dict:
    config = {
        "orgUrl": url,
        "authorizationMode": "PrivateKey",
        "clientId": client_id,
        "scopes": ["okta.authorizationServers.read", "okta.authorizationServers.manage"],
        "privateKey": private_jwk,
        "dpopEnabled": dpop,
        "rateLimit": {"maxRetries": 0},
    }
    client = Client(config)
    seen: dict = {}
    servers, _, err = await client.list_authorization_servers()
    seen["servers"] = [s.id for s in servers] if servers else str(err)
    keys, _, err = await client.list_authorization_server_keys("default")
    seen["list"] = [[k.kid, k.status] for k in keys] if keys else str(err)
    rotated, _, err = await client.rotate_authorization_server_keys("default", JwkUse(use="sig"))
    seen["rotate"] = [[k.kid, k.status] for k in rotated] if rotated else str(err)
    _, token_type, err = await client._request_executor._oauth.get_oauth_token()
    seen["token_type"] = token_type if not err else str(err)
    return seen


if __name__ == "__main__":
    url, client_id, jwk, dpop = sys.argv[1:5]
    print(json.dumps(asyncio.run(main(url, client_id, jwk, dpop == "dpop"))))
