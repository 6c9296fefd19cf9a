"""Reading RFC 8288 Link headers as Okta writes them."""

from __future__ import annotations

import httpx
import pytest

from okta.pagination import next_link, parse_link_header

BASE = "https://example.okta.com/api/v1/authorizationServers"


@pytest.mark.parametrize(
    ("value", "links"),
    [
        ("", {}),
        (f'<{BASE}?limit=2>; rel="self"', {"self": f"{BASE}?limit=2"}),
        (
            f'<{BASE}?limit=2>; rel="self", <{BASE}?after=aus2&limit=2>; rel="next"',
            {"self": f"{BASE}?limit=2", "next": f"{BASE}?after=aus2&limit=2"},
        ),
        (f"<{BASE}?after=a,b>;rel=next", {"next": f"{BASE}?after=a,b"}),
        (
            f'<{BASE}?x=1>; title="a, b"; REL="Next Last"',
            {"next": f"{BASE}?x=1", "last": f"{BASE}?x=1"},
        ),
        (f'<{BASE}?a=1>; rel="next", <{BASE}?a=2>; rel="next"', {"next": f"{BASE}?a=1"}),
        ("garbage, more garbage", {}),
    ],
)
def test_parse_link_header(value: str, links: dict[str, str]) -> None:
    """Relations map to URLs; quoting, case, commas in URLs and several rels are handled."""
    assert parse_link_header(value) == links


def test_next_link_reads_repeated_link_headers() -> None:
    """Okta sends self and next as two Link headers; both are read."""
    headers = httpx.Headers(
        [("Link", f'<{BASE}?limit=2>; rel="self"'), ("Link", f'<{BASE}?after=c>; rel="next"')]
    )
    assert next_link(headers) == f"{BASE}?after=c"
    assert next_link(httpx.Headers([("Link", f'<{BASE}>; rel="self"')])) is None
    assert next_link({}) is None
