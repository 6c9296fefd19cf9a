"""``GET /openapi.json``: keyrotor's OpenAPI 3.1 description of every route it serves.

The document (``openapi.json`` beside this module) is built from Okta's own published
description by ``tests/fuzz/openapi_build.py``; a test holds it to the app's routes and to
that build, and the fuzzing tests (``tests/fuzz``) hold the server to it. It names no host
(no ``servers``: paths are relative to wherever it was fetched), so it is the same bytes for
every caller, and cacheable.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.http.render import JSON_TYPE, render_json

PATH = "/openapi.json"
MAX_AGE = 3600  # seconds: the document changes only with keyrotor's version


def document() -> Any:
    """The document as data (a fresh copy)."""
    return json.loads(resources.files("keyrotor.http").joinpath("openapi.json").read_bytes())


@functools.cache
def _rendered() -> tuple[bytes, str]:
    body = render_json(document())
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


async def openapi_document(request: Request) -> Response:
    body, etag = _rendered()
    headers = {"Cache-Control": f"public, max-age={MAX_AGE}", "ETag": etag}
    tags = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in tags:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JSON_TYPE, headers=headers)


routes = [Route(PATH, openapi_document, methods=["GET"])]
