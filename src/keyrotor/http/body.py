"""Reading request bodies the way Okta answers them: JSON only, bounded, well-formed; and
the checks every value from a caller passes (no NUL, no lone surrogate, ASCII numbers)."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from keyrotor.config import MAX_BODY_BYTES
from keyrotor.errors import MalformedBody, PayloadTooLarge, UnsupportedMedia, ValidationFailed

MAX_DEPTH = 32  # nesting of a JSON body; Okta's deepest documented body nests 5 levels
# NUL (PostgreSQL refuses it in text) and UTF-16 surrogates (no UTF-8 encoding holds one)
_HOSTILE = re.compile("[\x00\ud800-\udfff]")
_DIGITS = re.compile("[0-9]{1,9}")  # str.isdigit() also takes '²' or '٣', which int() refuses
NOT_HOSTILE = "not contain a NUL character or an unpaired UTF-16 surrogate"
HOSTILE_TEXT = f"must {NOT_HOSTILE}"
MAX_CAUSES = 20


def is_hostile(text: str) -> bool:
    """Whether ``text`` holds what no store or encoder takes: NUL, or a lone surrogate."""
    return _HOSTILE.search(text) is not None


def ascii_int(raw: str) -> int | None:
    """``raw`` as a whole number when it is 1 to 9 ASCII digits, else ``None``."""
    return int(raw) if _DIGITS.fullmatch(raw) else None


async def json_body(request: Request) -> Any:
    """The parsed JSON body, or ``None`` when there is none. Too large: 413; not UTF-8, not
    JSON or nested deeper than ``MAX_DEPTH``: 400 E0000003; a NUL or a lone surrogate in
    any string or member name: 400 E0000001."""
    declared = ascii_int(request.headers.get("content-length", ""))
    if declared is not None and declared > MAX_BODY_BYTES:
        raise PayloadTooLarge(MAX_BODY_BYTES)
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge(MAX_BODY_BYTES)
    if not raw.strip():
        return None
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMedia()
    try:
        # strict UTF-8 first: json.loads(bytes) would let encoded surrogates through
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedBody() from None
    check_json(body)
    return body


def check_json(value: Any) -> None:
    """Refuse a parsed JSON value nested deeper than ``MAX_DEPTH`` (E0000003) or with a NUL
    or a lone surrogate in a string or member name (E0000001, each such member named).
    Iterative, so no depth costs a recursion."""
    causes: set[str] = set()
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, str):
            if is_hostile(node):
                causes.add(f"{where or 'body'}: Must {NOT_HOSTILE}.")
            continue
        if not isinstance(node, dict | list):
            continue
        if depth >= MAX_DEPTH:
            raise MalformedBody(None, (f"The body nests deeper than {MAX_DEPTH} levels.",))
        if isinstance(node, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(node))
            continue
        for name, item in node.items():
            if is_hostile(name):
                causes.add(f"{where or 'body'}: A member name {HOSTILE_TEXT}.")
                continue
            stack.append((item, f"{where}.{name}" if where else name, depth + 1))
    if causes:
        raise ValidationFailed("body", *sorted(causes)[:MAX_CAUSES])


def accepts_json(request: Request) -> bool:
    return accepts_json_value(request.headers.get("accept", ""))


def accepts_json_value(accept: str) -> bool:
    """Whether an ``Accept`` header's value allows a JSON answer (no value: it does)."""
    if not accept:
        return True
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(kinds & {"application/json", "application/*", "*/*"}) or any(
        kind.endswith("+json") for kind in kinds
    )
