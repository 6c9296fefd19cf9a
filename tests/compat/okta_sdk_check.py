"""Run by Okta's published `okta` 3.4.6 SDK (its own venv), against a keyrotor server.

Usage: python okta_sdk_check.py URL TOKEN. Prints one JSON object of what it saw.
"""

import asyncio
import json
import os
import sys

os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"  # the server is http://127.0.0.1

from okta.client import Client

from okta.models.authorization_server import AuthorizationServer
from okta.models.jwk_use import JwkUse


async def main(url: str, token: str) -> dict:
    client = Client({"orgUrl": url, "token": token, "rateLimit": {"maxRetries": 2}})
    seen: dict = {}
    keys, _, err = await client.list_authorization_server_keys("default")
    seen["list"] = [[k.kid, k.status] for k in keys] if keys else str(err)
    rotated, _, err = await client.rotate_authorization_server_keys("default", JwkUse(use="sig"))
    seen["rotate"] = [[k.kid, k.status] for k in rotated] if rotated else str(err)
    key, _, err = await client.get_authorization_server_key("default", keys[0].kid)
    seen["get"] = [key.kid, key.status] if key else str(err)
    servers, _, err = await client.list_authorization_servers()
    seen["servers"] = [[s.id, s.status.value] for s in servers] if servers else str(err)
    body = AuthorizationServer(name="sdk", description="by okta 3.4.6", audiences=["api://sdk"])
    made, _, err = await client.create_authorization_server(body)
    seen["create"] = (
        [made.id, made.status.value, made.credentials.signing.kid] if made else str(err)
    )
    for step in ("deactivate", "activate", "deactivate", "delete"):
        _, response, err = await getattr(client, f"{step}_authorization_server")(made.id)
        seen[step] = [response.status_code if response else None, str(err) if err else None]
    _, _, err = await client.get_authorization_server("ausMissing")
    seen["missing"] = [err.status, err.error_code, err.error_summary]
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
