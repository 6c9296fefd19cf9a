"""Run by Okta's published `okta` 3.4.6 SDK (its own venv), against a keyrotor server.

Usage: python okta_sdk_api_tokens.py URL ADMIN_TOKEN OTHER_TOKEN OTHER_ID. Lists and gets API
tokens with the admin token, revokes the other by id, then makes a token revoke itself
(``current``) and tries to use it again. Prints one JSON object of what it saw.
"""

import asyncio
import json
import os
import sys

os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"  # the server is http://127.0.0.1

from okta.client import Client


def client(url: str, token: str) -> Client:
    return Client({"orgUrl": url, "token": token, "rateLimit": {"maxRetries": 0}})


async def main(url: str, admin: str, other: str, other_id: str) -> dict:
    seen: dict = {}
    api = client(url, admin)
    tokens, _, err = await api.list_api_tokens()
    seen["list"] = [[t.id, t.name, t.network.connection] for t in tokens] if tokens else str(err)
    token, _, err = await api.get_api_token(other_id)
    seen["get"] = [token.id, token.name, token.created.isoformat()] if token else str(err)
    _, response, err = await api.revoke_api_token(other_id)
    seen["revoke"] = [response.status_code if response else None, str(err) if err else None]
    _, _, err = await api.get_api_token(other_id)
    seen["get_revoked"] = [err.status, err.error_code] if err else None
    _, _, err = await client(url, other).list_api_tokens()
    seen["other_after"] = [err.status, err.error_code] if err else None
    _, response, err = await api.revoke_current_api_token()
    seen["revoke_current"] = [response.status_code if response else None, str(err) if err else None]
    _, _, err = await api.list_api_tokens()
    seen["admin_after"] = [err.status, err.error_code] if err else None
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:5]))))
