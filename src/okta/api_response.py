"""``ApiResponse``: what a ``…_with_http_info`` method returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["ApiResponse"]

T = TypeVar("T")


@dataclass(frozen=True)
class ApiResponse(Generic[T]):
    """The HTTP status, headers and raw body of an answer, and ``data``, its parsed body.

    ``headers`` is case-insensitive (``headers["x-rate-limit-remaining"]``); ``data`` is
    ``None`` for the operations that answer ``204 No Content``.
    """

    status_code: int
    headers: Mapping[str, str]
    data: T
    raw_data: bytes = field(repr=False)
