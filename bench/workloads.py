"""The hot paths measured, each with the baseline it is compared to and the ratio it must reach.

A workload is one request repeated by wrk. Against keyrotor it expects its real answer
(200, or 304 for the conditional JWKS); against its baseline the same request (same path,
headers and body) expects a 200.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tests.conftest import ADMIN_TOKEN

from bench.loadgen import Request
from bench.target import SCOPE, Fixture

SSWS = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
FORM = "application/x-www-form-urlencoded"
SERVERS = "/api/v1/authorizationServers"

# the workloads the scale phase repeats on one of many servers
SCALE_WORKLOADS = ("JWKS", "key list", "key get", "server get", "server list", "token")


@dataclass(frozen=True)
class Workload:
    """A named request against keyrotor, its baseline app, and the target ratio (if any)."""

    name: str
    baseline: str  # "const" or "sign": the app in bench.baselines
    target: float | None
    request: Request

    def baseline_request(self) -> Request:
        """The same request; the baseline answers it with a 200."""
        return dataclasses.replace(self.request, expect=200)


def token_request(server_id: str, basic: str) -> Request:
    """A client-credentials token request with client_secret_basic."""
    return Request(
        "POST",
        f"/oauth2/{server_id}/v1/token",
        {"Authorization": basic, "Content-Type": FORM, "Accept": "application/json"},
        body="grant_type=client_credentials&scope=" + SCOPE.replace(":", "%3A"),
        must_contain="access_token",
    )


def workloads(fx: Fixture) -> list[Workload]:
    """Every workload, against the server and token server named in ``fx``."""
    jwks = f"/oauth2/{fx.server_id}/v1/keys"
    keys = f"{SERVERS}/{fx.server_id}/credentials/keys"
    listing = SERVERS + (f"?limit={fx.list_limit}" if fx.list_limit else "")
    return [
        Workload("healthz", "const", None, Request("GET", "/healthz")),
        Workload("JWKS", "const", 0.75, Request("GET", jwks, must_contain='"keys"')),
        Workload(
            "JWKS 304", "const", 0.75, Request("GET", jwks, {"If-None-Match": fx.etag}, expect=304)
        ),
        Workload(
            "discovery",
            "const",
            0.75,
            Request("GET", f"/oauth2/{fx.server_id}/.well-known/openid-configuration"),
        ),
        Workload("key list", "const", 0.40, Request("GET", keys, SSWS)),
        Workload("key get", "const", 0.40, Request("GET", f"{keys}/{fx.kid}", SSWS)),
        Workload("server get", "const", 0.40, Request("GET", f"{SERVERS}/{fx.server_id}", SSWS)),
        Workload("server list", "const", 0.40, Request("GET", listing, SSWS)),
        Workload("token", "sign", 0.70, token_request(fx.token_server_id, fx.basic)),
    ]


def pick(all_workloads: list[Workload], names: tuple[str, ...] | None) -> list[Workload]:
    """The workloads named (all of them for ``None``), in their usual order."""
    if names is None:
        return all_workloads
    return [w for w in all_workloads if w.name in names]
