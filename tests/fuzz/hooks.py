"""Schemathesis hooks for the fuzzing runs (``SCHEMATHESIS_HOOKS=tests.fuzz.hooks``): the
admin API token on every request, and two checks of keyrotor's own.

- ``refused_requests_change_nothing``: a 4xx leaves the store as it was (a fingerprint of
  its rows, ``tests/fuzz/store.py``, taken before each call);
- ``okta_headers``: every answer carries ``X-Okta-Request-Id`` and ``Date``, and on the
  management API ``Cache-Control: no-cache, no-store`` and the ``X-Rate-Limit-*`` headers.

The run passes what they need in the environment: ``KEYROTOR_FUZZ_TOKEN`` (the admin
token), ``KEYROTOR_FUZZ_DATABASE`` (the store's URL) and ``KEYROTOR_FUZZ_TALLY`` (a file
where, at exit, the hooks write how many refused requests they compared, so the test knows
the check ran).
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis import Case

from tests.fuzz.store import Store

TOKEN = os.environ["KEYROTOR_FUZZ_TOKEN"]
STORE = Store(os.environ["KEYROTOR_FUZZ_DATABASE"])
MANAGEMENT_HEADERS = ("X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset")
_before: dict[int, str] = {}
_tally = {"calls": 0, "refused": 0}


@atexit.register
def _write_tally() -> None:
    Path(os.environ["KEYROTOR_FUZZ_TALLY"]).write_text(json.dumps(_tally))


@schemathesis.auth(refresh_interval=None, retry_on=[])
class AdminToken:
    def get(self, case: Case, context: Any) -> str:
        return TOKEN

    def set(self, case: Case, data: str, context: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"SSWS {data}"


@schemathesis.hook
def before_call(context: Any, case: Case, kwargs: dict[str, Any]) -> None:
    _tally["calls"] += 1
    _before[id(case)] = STORE.fingerprint()


@schemathesis.check
def refused_requests_change_nothing(ctx: Any, response: Any, case: Case) -> bool | None:
    before = _before.pop(id(case), None)
    if before is None or not 400 <= response.status_code < 500:
        return None
    _tally["refused"] += 1
    if STORE.fingerprint() != before:
        raise AssertionError(
            f"{case.method} {case.formatted_path} was refused ({response.status_code}) "
            f"but changed the store: {STORE.counts()}"
        )
    return True


@schemathesis.check
def okta_headers(ctx: Any, response: Any, case: Case) -> bool | None:
    headers = {name.lower(): values for name, values in response.headers.items()}
    missing = [name for name in ("X-Okta-Request-Id", "Date") if name.lower() not in headers]
    if case.formatted_path.startswith("/api/"):
        missing += [name for name in MANAGEMENT_HEADERS if name.lower() not in headers]
        cache = headers.get("cache-control", [""])[0]
        if cache != "no-cache, no-store":
            missing.append(f"Cache-Control: no-cache, no-store (got {cache!r})")
    if missing:
        raise AssertionError(f"{response.status_code} without Okta's headers: {missing}")
    return True
