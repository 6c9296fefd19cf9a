"""A real ``keyrotor serve --test-mode`` for a test suite, and its controls (the client side).

``KeyrotorServer.start`` runs the server as a child process on a free loopback port with a
store in a folder of its own, makes an admin API token, a scope on ``default`` and a
client that may ask for it, and makes that store the one ``reset`` restores. The methods
speak HTTP only: the management API, the token endpoint and the test-mode routes
(``keyrotor.http.testmode``). The pytest fixtures are in ``keyrotor.testing.plugin``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import TypeAdapter, ValidationError

from keyrotor.apitokens import new_token_value
from keyrotor.clock import iso

if TYPE_CHECKING:
    import okta

SCOPE = "api:read"  # the scope made on `default` for the registered client
AUDIENCE = "api://default"  # `default`'s audience: the `aud` of its tokens
_SERVE_DEFAULTS = (
    *("--log-level", "warning"),
    # limits high enough that no test meets them: fail_jwks/fail_token rehearse a 429
    *("--rate-limit", "1000000", "--token-rate-limit", "1000000"),
    *("--public-rate-limit", "1000000"),
    *("--key-pool-size", "4"),
)
Duration = timedelta | float | str
_DURATION = TypeAdapter(timedelta)


class KeyrotorTestError(RuntimeError):
    """A control or API call the test server refused (its status and answer are in the
    message), or a server that would not start."""


class KeyrotorServer:
    """A running ``keyrotor serve --test-mode``; see ``docs/testing-your-resource-server.md``.

    Attributes: ``url``, ``token`` (an admin API token), ``client_id``/``client_secret``
    (a client that may ask ``default`` for ``scope``), ``scope``, ``audience``, ``issuer``,
    ``jwks_uri``, ``okta`` (an ``okta.ApiClient`` with the admin token), ``http`` (an
    ``httpx.Client`` on ``url``), ``database`` and ``log_path``.
    """

    scope = SCOPE
    audience = AUDIENCE

    def __init__(
        self, process: subprocess.Popen[bytes], url: str, token: str, folder: Path
    ) -> None:
        self.process = process
        self.url = url
        self.token = token
        self.database = f"sqlite:///{folder / 'keyrotor.db'}"
        self.log_path = folder / "keyrotor.log"
        self.client_id = ""
        self.client_secret = ""
        self.http = httpx.Client(base_url=url, timeout=30)

    _NO_CLIENT = "KeyrotorServer.okta needs keyrotor's client: pip install keyrotor-okta-client"

    @functools.cached_property
    def okta(self) -> okta.ApiClient:
        """keyrotor's ``okta`` client on this server, with the admin token. It is a
        distribution of its own (``pip install keyrotor-okta-client``), imported on first
        use only, so the fixtures work without it."""
        try:
            import okta
        except ImportError:
            raise KeyrotorTestError(self._NO_CLIENT) from None
        if not hasattr(okta, "AuthorizationServerKeysApi"):  # Okta's SDK, also `okta`
            raise KeyrotorTestError(self._NO_CLIENT)
        return okta.ApiClient(okta.Configuration(host=self.url, api_key={"apiToken": self.token}))

    def __repr__(self) -> str:  # no token or secret in a test report
        return f"KeyrotorServer(url={self.url!r}, client_id={self.client_id!r})"

    # -- the process -------------------------------------------------------------------

    @classmethod
    def start(
        cls, folder: Path, *, args: Sequence[str] = (), timeout: float = 30
    ) -> KeyrotorServer:
        """Start a server whose store and log live in ``folder``; ``args`` are more
        ``keyrotor serve`` options (``--token-lifetime 300``, ``--rotation-days 30``…)."""
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a free port can be taken by someone else before serve binds it
            server = cls._launch(folder, args)
            if server._wait_ready(timeout):
                try:
                    server._prepare()
                except BaseException:
                    server.stop()
                    raise
                return server
            if "address already in use" not in server.output().lower():
                break
        raise KeyrotorTestError(f"keyrotor serve --test-mode did not start:\n{server.output()}")

    @classmethod
    def _launch(cls, folder: Path, args: Sequence[str]) -> KeyrotorServer:
        port = _free_port()
        token = new_token_value()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYROTOR_")}
        env.update(KEYROTOR_BOOTSTRAP_TOKEN=token, PYTHONUNBUFFERED="1")
        command = [
            *(sys.executable, "-m", "keyrotor", "serve", "--test-mode"),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--database", f"sqlite:///{folder / 'keyrotor.db'}"),
            *_SERVE_DEFAULTS,
            *args,  # last, so they win over the defaults
        ]
        with (folder / "keyrotor.log").open("ab") as log:  # the child keeps its own copy
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        return cls(process, f"http://127.0.0.1:{port}", token, folder)

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                return False
            with contextlib.suppress(httpx.TransportError, ValueError):
                answer = self.http.get("/healthz", timeout=1)
                if answer.status_code == 200 and answer.json().get("testMode") is True:
                    return True
            time.sleep(0.05)
        self.stop()
        raise KeyrotorTestError(f"keyrotor serve did not answer in {timeout} s:\n{self.output()}")

    def _prepare(self) -> None:
        """A scope on ``default``, a client that may ask for it; then the baseline."""
        self._check(self.admin("POST", _scopes("default"), json={"name": self.scope}), 201)
        made = self._check(
            self.admin("POST", "/oauth2/v1/clients", json={"client_name": "keyrotor-test"}), 201
        )
        self.client_id, self.client_secret = made["client_id"], made["client_secret"]
        self.set_baseline()

    def stop(self) -> None:
        """Stop the server and close the clients (the store's folder stays)."""
        if "okta" in self.__dict__:  # made on first use
            self.okta.close()
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def output(self) -> str:
        """What the server printed (its banner, warnings, errors)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- the authorization servers ---------------------------------------------------

    @property
    def issuer(self) -> str:
        """``default``'s issuer."""
        return self.issuer_for("default")

    @property
    def jwks_uri(self) -> str:
        """``default``'s JWKS."""
        return self.jwks_uri_for("default")

    def issuer_for(self, server: str) -> str:
        return f"{self.url}/oauth2/{server}"

    def jwks_uri_for(self, server: str) -> str:
        return f"{self.issuer_for(server)}/v1/keys"

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A management API request with the admin token (``path`` from ``/api/v1/…``)."""
        headers = {"Authorization": f"SSWS {self.token}", **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def create_server(
        self,
        name: str,
        audiences: Sequence[str] | None = None,
        rotation_mode: str = "AUTO",
    ) -> str:
        """A new authorization server; its id."""
        body = {
            "name": name,
            "audiences": list(audiences or [f"api://{name}"]),
            "credentials": {"signing": {"rotationMode": rotation_mode}},
        }
        made = self._check(self.admin("POST", "/api/v1/authorizationServers", json=body), 201)
        return str(made["id"])

    def mint_token(self, scopes: Sequence[str] | None = None, server: str = "default") -> str:
        """An access token of ``server`` for the registered client (``scope`` unless
        ``scopes`` says otherwise); a scope the server lacks is made first."""
        wanted = list(scopes) if scopes is not None else [self.scope]
        answer = self._token(wanted, server)
        if answer.status_code == 400 and answer.json().get("error") == "invalid_scope":
            have = {s["name"] for s in self._check(self.admin("GET", _scopes(server)), 200)}
            for name in wanted:
                if name not in have:
                    self._check(self.admin("POST", _scopes(server), json={"name": name}), 201)
            answer = self._token(wanted, server)
        return str(self._check(answer, 200)["access_token"])

    def _token(self, scopes: list[str], server: str) -> httpx.Response:
        return self.http.post(
            f"/oauth2/{server}/v1/token",
            data={"grant_type": "client_credentials", "scope": " ".join(scopes)},
            auth=(self.client_id, self.client_secret),
        )

    def rotate(self, server: str = "default") -> list[dict[str, Any]]:
        """Rotate ``server``'s keys now (as ``keyRotate`` does); its keys after."""
        path = f"/api/v1/authorizationServers/{server}/credentials/lifecycle/keyRotate"
        keys: list[dict[str, Any]] = self._check(self.admin("POST", path, json={"use": "sig"}), 200)
        return keys

    def keys(self, server: str = "default") -> list[dict[str, Any]]:
        """``server``'s keys as the management API lists them (with their ``status``)."""
        path = f"/api/v1/authorizationServers/{server}/credentials/keys"
        keys: list[dict[str, Any]] = self._check(self.admin("GET", path), 200)
        return keys

    def active_kid(self, server: str = "default") -> str:
        """The ``kid`` ``server`` signs with now."""
        return next(str(k["kid"]) for k in self.keys(server) if k["status"] == "ACTIVE")

    # -- the clock ---------------------------------------------------------------------

    def now(self) -> datetime:
        """The server's time."""
        return datetime.fromisoformat(self._check(self.http.get("/_test/clock"), 200)["now"])

    def advance(
        self,
        delta: Duration | None = None,
        *,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
    ) -> datetime:
        """Move the server's clock forward by ``delta`` (a ``timedelta``, seconds, or an
        ISO 8601 duration such as ``"P90D"``) plus the keyword amounts; every step then
        due (NEXT key made, rotation) is applied before this returns. The new time."""
        step = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if isinstance(delta, str):
            try:
                step += _DURATION.validate_python(delta)
            except ValidationError:
                raise ValueError(f"{delta!r} is not an ISO 8601 duration (P90D, PT1H)") from None
        elif isinstance(delta, timedelta):
            step += delta
        elif delta is not None:
            step += timedelta(seconds=delta)
        return self._move({"advance": step.total_seconds()})

    def set_time(self, moment: datetime | str) -> datetime:
        """Move the server's clock forward to ``moment`` (aware, or RFC 3339 text)."""
        when = iso(moment) if isinstance(moment, datetime) else moment
        return self._move({"set": when})

    def _move(self, body: dict[str, Any]) -> datetime:
        moved = self._check(self.http.post("/_test/clock", json=body), 200)
        return datetime.fromisoformat(moved["now"])

    # -- faults ------------------------------------------------------------------------

    def fail_jwks(
        self,
        kind: str = "error",
        *,
        count: int | None = None,
        seconds: float | None = None,
        server: str | None = None,
        status: int = 503,
        retry_after: int = 1,
        delay: float = 2.0,
    ) -> dict[str, Any]:
        """From now on the JWKS answers (for ``count`` requests, ``seconds``, or until
        ``clear_faults``; of ``server`` or of every server): ``"error"`` (``status``, 5xx),
        ``"rate_limit"`` (429 with ``Retry-After: retry_after``), ``"empty"`` (no keys),
        ``"malformed"`` (cut off halfway), ``"missing_active"`` (without the key tokens
        are signed with) or ``"slow"`` (the real answer after ``delay`` seconds)."""
        return self._fault("jwks", kind, count, seconds, server, status, retry_after, delay)

    def fail_token(
        self,
        kind: str = "error",
        *,
        count: int | None = None,
        seconds: float | None = None,
        server: str | None = None,
        status: int = 503,
        retry_after: int = 1,
        delay: float = 2.0,
    ) -> dict[str, Any]:
        """The same for the token endpoints: ``"error"``, ``"rate_limit"`` or ``"slow"``."""
        return self._fault("token", kind, count, seconds, server, status, retry_after, delay)

    def _fault(
        self,
        endpoint: str,
        kind: str,
        count: int | None,
        seconds: float | None,
        server: str | None,
        status: int,
        retry_after: int,
        delay: float,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "endpoint": endpoint,
            "kind": kind,
            "status": status,
            "retryAfter": retry_after,
            "delay": delay,
        }
        for name, value in (("count", count), ("seconds", seconds), ("server", server)):
            if value is not None:
                body[name] = value
        made: dict[str, Any] = self._check(self.http.post("/_test/faults", json=body), 201)
        return made

    def faults(self) -> list[dict[str, Any]]:
        """The faults still in force."""
        found: list[dict[str, Any]] = self._check(self.http.get("/_test/faults"), 200)["faults"]
        return found

    def clear_faults(self) -> None:
        self._check(self.http.delete("/_test/faults"), 204)

    # -- the store ---------------------------------------------------------------------

    def reset(self) -> float:
        """The store as the baseline holds it, the clock at real time, no faults; the
        seconds the server took."""
        return float(self._check(self.http.post("/_test/reset"), 200)["seconds"])

    def set_baseline(self) -> None:
        """The store as it is now becomes what ``reset`` restores."""
        self._check(self.http.post("/_test/baseline"), 200)

    @staticmethod
    def _check(answer: httpx.Response, expected: int) -> Any:
        if answer.status_code != expected:
            raise KeyrotorTestError(
                f"{answer.request.method} {answer.request.url.path}: "
                f"{answer.status_code} {answer.text}"
            )
        return answer.json() if answer.content else None


def _scopes(server: str) -> str:
    return f"/api/v1/authorizationServers/{server}/scopes"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
