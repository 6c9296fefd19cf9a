"""The console's files, in process: the page and its assets, their security headers, Okta's
errors for what is not there, the prefix of a public URL with a path, and off means 404."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from keyrotor.config import Settings
from keyrotor.http import create_app
from keyrotor.http.console import CSP
from keyrotor.service import KeyService
from tests.conftest import TEST_KEK


@pytest.fixture
def anonymous(client: TestClient) -> TestClient:
    """The in-process app, asked as a browser asks: no token, HTML first."""
    client.headers.pop("Authorization")
    client.headers["Accept"] = "text/html,application/xhtml+xml,*/*;q=0.8"
    return client


def test_the_page_has_a_strict_policy_and_no_inline_code(anonymous: TestClient) -> None:
    page = anonymous.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CSP
    assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP
    assert "frame-ancestors 'none'" in CSP and "default-src 'none'" in CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-okta-request-id"]
    html = page.text
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, re.S)
    assert scripts == [""]  # one script, from a file
    assert 'src="/console/assets/console.js"' in html and 'type="module"' in html
    assert not re.search(r"\son[a-z]+=|\sstyle=|<style", html)
    assert 'data-retention="3900"' in html and 'data-rotation-period="7776000"' in html
    assert anonymous.get("/console/").text == html  # a trailing slash is the same page


def test_assets_are_served_with_the_policy_and_revalidated(anonymous: TestClient) -> None:
    for path, kind in (("console.js", "javascript"), ("console.css", "text/css")):
        answer = anonymous.get(f"/console/assets/{path}")
        assert answer.status_code == 200 and kind in answer.headers["content-type"]
        assert answer.headers["content-security-policy"] == CSP
        assert answer.headers["cache-control"] == "no-cache"
        again = anonymous.get(
            f"/console/assets/{path}", headers={"If-None-Match": answer.headers["etag"]}
        )
        assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/console/assets/nothing.js",
        "/console/assets/%2e%2e/index.html",
        "/console/assets/%2e%2e/%2e%2e/http/console.py",
        "/console/index.html",
        "/consoles",
    ],
)
def test_what_is_not_there_is_okta_s_404(anonymous: TestClient, path: str) -> None:
    answer = anonymous.get(path)
    assert answer.status_code == 404
    assert answer.json()["errorCode"] == "E0000007"


def test_only_get_and_head(anonymous: TestClient) -> None:
    assert anonymous.head("/console").status_code == 200
    for path in ("/console", "/console/assets/console.js"):
        answer = anonymous.post(path)
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET, HEAD"
        assert answer.json()["errorCode"] == "E0000022"


def test_a_public_url_with_a_path_prefixes_the_files(service: KeyService) -> None:
    settings = Settings(
        database_url="memory://", kek=TEST_KEK, public_url="https://keys.example.com/kr/"
    )
    app = create_app(service, settings, sweep=False)
    with TestClient(app, base_url="https://keys.example.com") as client:
        html = client.get("/console").text
    assert 'href="/kr/console/assets/console.css"' in html and 'data-prefix="/kr"' in html


@pytest.fixture
def without_console(service: KeyService, settings: Settings) -> Iterator[TestClient]:
    app = create_app(service, settings, sweep=False, with_console=False)
    with TestClient(app) as client:
        yield client


def test_off_is_a_404(without_console: TestClient) -> None:
    for path in ("/console", "/console/assets/console.js"):
        answer = without_console.get(path)
        assert answer.status_code == 404
        assert answer.json()["errorCode"] == "E0000007"
