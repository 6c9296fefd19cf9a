"""Pages of a list: the ``Link`` header (RFC 8288) and iteration across pages.

Okta pages lists with ``Link: <…?after=CURSOR&limit=N>; rel="next"`` and stops sending a
``next`` link on the last page. The client never follows links by itself; the
``iter_…`` methods of the Api classes do, through :func:`iter_pages`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from okta.api_response import ApiResponse
from okta.exceptions import UnexpectedResponseError

__all__ = ["iter_pages", "next_link", "parse_link_header"]

T = TypeVar("T")

_LINK = re.compile(r"<([^>]*)>([^<]*)")
_REL = re.compile(r';\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))', re.IGNORECASE)


def parse_link_header(value: str) -> dict[str, str]:
    """The URL of each relation in a ``Link`` header value (the first one wins)."""
    links: dict[str, str] = {}
    for url, params in _LINK.findall(value):
        for quoted, bare in _REL.findall(params):
            for rel in (quoted or bare).lower().split():
                links.setdefault(rel, url.strip())
    return links


def next_link(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` URL of a response, or ``None`` on the last page."""
    return parse_link_header(headers.get("link") or "").get("next")


def iter_pages(
    first: ApiResponse[list[T]], fetch: Callable[[str], ApiResponse[list[T]]]
) -> Iterator[T]:
    """Every item of ``first`` and of the pages its ``next`` links lead to, in order."""
    response, seen = first, set[str]()
    while True:
        yield from response.data
        url = next_link(response.headers)
        if url is None:
            return
        if url in seen:
            raise UnexpectedResponseError(
                f"pagination loop: {url} was already fetched", status=200, body=b""
            )
        seen.add(url)
        response = fetch(url)
