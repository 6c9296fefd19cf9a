"""Reading request bodies the way Okta answers them: JSON only, bounded, well-formed."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from keyrotor.config import MAX_BODY_BYTES
from keyrotor.errors import MalformedBody, UnsupportedMedia, ValidationFailed


async def json_body(request: Request) -> Any:
    """The parsed JSON body, or ``None`` when there is none."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_BODY_BYTES:
            raise _too_large()
    if not raw.strip():
        return None
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMedia()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody() from None


def _too_large() -> ValidationFailed:
    return ValidationFailed("body", f"The request body is larger than {MAX_BODY_BYTES} bytes.")


def accepts_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    if not accept:
        return True
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(kinds & {"application/json", "application/*", "*/*"}) or any(
        kind.endswith("+json") for kind in kinds
    )
