"""The web console in a real browser against a real ``keyrotor serve``: sign in, create a
server, rotate it and see the timeline change, switch its mode, add a scope and a client,
test a token and find its kid marked in the timeline; a read-only token sees no button
that changes anything; ``--no-console`` turns it off. Each page is saved as a screenshot
(``conftest.py`` says where)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from keyrotor.apitokens import SCOPE_READ
from tests.conftest import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e

Shot = Callable[[Page, str], Path]
KEYS = "#timeline g.key"


def sign_in(page: Page, server: ServerProcess, token: str) -> None:
    page.goto(f"{server.url}/console")
    page.fill("#token", token)
    page.click("#sign-in button[type=submit]")


def kid_of(page: Page, status: str) -> str:
    kid = page.locator(f'{KEYS}[data-status="{status}"]').get_attribute("data-kid")
    assert kid
    return kid


def confirm(page: Page, shot: Shot | None = None, name: str = "") -> str:
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    text = dialog.inner_text()
    if shot is not None:
        shot(page, name)
    page.click("#confirm-ok")
    expect(dialog).to_be_hidden()
    return text


def test_an_admin_rotates_keys_and_tests_a_token(
    page: Page, start_server: Callable[..., ServerProcess], shot: Shot
) -> None:
    server = start_server()
    page.goto(f"{server.url}/console")
    expect(page.locator("#token")).to_be_visible()
    shot(page, "sign-in")
    sign_in(page, server, ADMIN_TOKEN)
    expect(page.locator("#servers")).to_be_visible()
    expect(page.locator("#who")).to_have_text("Signed in: read and manage")
    # the token is kept in this tab's session only: no cookie, nothing in localStorage
    assert page.evaluate("sessionStorage.getItem('keyrotor.console.token')") == ADMIN_TOKEN
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    expect(page.locator("#servers tbody tr", has_text="default")).to_have_count(1)
    shot(page, "servers")

    # a new server: its page draws one bar per key, ACTIVE and NEXT
    page.fill("#new-name", "payments")
    page.fill("#new-audience", "api://payments")
    page.select_option("#new-mode", "MANUAL")
    page.click("#create-server button[type=submit]")
    expect(page.locator(KEYS)).to_have_count(2)
    expect(page.locator("h1")).to_contain_text("payments")
    expect(page.locator("h1 .badge.mode")).to_have_text("MANUAL")
    active, following = kid_of(page, "ACTIVE"), kid_of(page, "NEXT")
    server_id = page.evaluate("location.hash").split("/")[2]
    shot(page, "server")

    # rotate: the confirmation says what happens, then the timeline has one bar more
    page.click("#rotate")
    said = confirm(page, shot, "rotate-confirm")
    assert f"ACTIVE key {active[:10]}" in said and "becomes EXPIRED" in said
    assert f"NEXT key {following[:10]}" in said and "becomes ACTIVE" in said
    expect(page.locator(KEYS)).to_have_count(3)
    assert kid_of(page, "ACTIVE") == following
    assert kid_of(page, "EXPIRED") == active
    expect(page.locator("#flash")).to_contain_text("Rotated")
    keys = httpx.get(
        f"{server.url}/api/v1/authorizationServers/{server_id}/credentials/keys",
        headers={"Authorization": f"SSWS {ADMIN_TOKEN}"},
    ).json()
    assert {k["kid"]: k["status"] for k in keys}[following] == "ACTIVE"
    shot(page, "server-rotated")

    # MANUAL -> AUTO: a next rotation appears
    page.click("#switch-mode")
    assert "rotate by themselves" in confirm(page)
    expect(page.locator("h1 .badge.mode")).to_have_text("AUTO")
    expect(page.locator("#next-rotation")).to_contain_text("UTC")

    # a scope and a client, then the token tester with the client just made
    page.click("nav.tabs >> text=Scopes and clients")
    page.fill("#scope-name", "payments:read")
    page.click("#create-scope button[type=submit]")
    expect(page.locator("#scopes tbody tr")).to_have_count(1)
    page.fill("#client-name", "console-test")
    page.click("#create-client button[type=submit]")
    expect(page.locator("#new-client-secret")).not_to_be_empty()
    expect(page.locator("#clients tbody tr", has_text="console-test")).to_have_count(1)
    shot(page, "scopes-and-clients")
    page.click("#use-in-tester")
    page.click("#request-token")
    expect(page.locator("#tester-kid")).to_have_attribute("data-kid", following)
    expect(page.locator("#token-header mark.kid")).to_have_text(json.dumps(following))
    expect(page.locator(f"{KEYS}.highlight")).to_have_attribute("data-kid", following)
    assert "payments:read" in page.locator("#token-claims").inner_text()
    shot(page, "token-tester")

    # deactivate it from the list
    page.click("nav#nav >> text=Authorization servers")
    row = page.locator("#servers tbody tr", has_text="payments")
    row.locator("button.toggle-status").click()
    confirm(page)
    expect(row.locator(".badge")).to_have_text("INACTIVE")

    page.click("#sign-out")
    expect(page.locator("#token")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_read_only_token_sees_no_write_button(
    page: Page, start_server: Callable[..., ServerProcess], shot: Shot
) -> None:
    server = start_server()
    read_only = make_token(server, "console-reader", SCOPE_READ)

    sign_in(page, server, "00not-a-token-of-this-server-at-all-000000")
    expect(page.locator("#flash")).to_contain_text("refused")
    expect(page.locator("#token")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0

    sign_in(page, server, read_only)
    expect(page.locator("#who")).to_have_text("Signed in: read-only")
    expect(page.locator("#servers tbody tr")).to_have_count(1)
    expect(page.locator("#create-server")).to_have_count(0)
    expect(page.locator("button.toggle-status")).to_have_count(0)
    shot(page, "servers")
    page.click("#servers >> text=default")
    expect(page.locator(KEYS)).to_have_count(2)
    expect(page.locator("#rotate")).to_have_count(0)
    expect(page.locator("#switch-mode")).to_have_count(0)
    expect(page.locator("button.toggle-status")).to_have_count(0)
    shot(page, "server")
    page.click("nav.tabs >> text=Scopes and clients")
    expect(page.locator("#scopes")).to_be_visible()
    expect(page.locator("#create-scope")).to_have_count(0)
    expect(page.locator("#create-client")).to_have_count(0)
    shot(page, "scopes-and-clients")


def test_no_console_is_a_404(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(None, "--no-console")
    for path in ("/console", "/console/assets/console.js"):
        answer = httpx.get(server.url + path)
        assert answer.status_code == 404
        assert answer.json()["errorCode"] == "E0000007"
        assert "content-security-policy" not in answer.headers


def make_token(server: ServerProcess, name: str, scope: str) -> str:
    """An API token made by ``keyrotor tokens create`` on the server's store."""
    command = ["tokens", "create", "--name", name, "--scope", scope, "--value", "token"]
    done = subprocess.run(
        [sys.executable, "-m", "keyrotor", *command, "--database", server.database],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
