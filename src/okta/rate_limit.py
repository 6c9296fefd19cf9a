"""How long to wait before retrying a 429, from Okta's rate-limit headers.

Okta answers a request over the limit with 429 ``E0000047``, ``Date`` and
``X-Rate-Limit-Reset`` (UTC epoch seconds when the window resets). Okta's SDKs wait
``X-Rate-Limit-Reset - Date + 1`` seconds, measured on the server's clock so that the
client's clock does not matter; so does this client.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime

__all__ = ["DEFAULT_WAIT", "retry_wait"]

DEFAULT_WAIT = 1.0
"""Seconds to wait when the answer does not say (no usable ``X-Rate-Limit-Reset``/``Date``)."""


def retry_wait(headers: Mapping[str, str]) -> float:
    """Seconds to wait before retrying the request that drew these 429 headers."""
    reset, date = _number(headers.get("x-rate-limit-reset")), _epoch(headers.get("date"))
    if reset is not None and date is not None:
        return max(reset - date, 0.0) + 1.0
    retry_after = _number(headers.get("retry-after"))
    return max(retry_after, 0.0) if retry_after is not None else DEFAULT_WAIT


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _epoch(value: str | None) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp() if value else None
    except (TypeError, ValueError):
        return None
