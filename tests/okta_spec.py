"""Okta's published OpenAPI 3.0.3 description of the operations keyrotor serves or will serve
(``../shared/okta-spec/okta_subset.json`` from the project root; see its ``README.md``), for
tests: operations by ``operationId``, their request examples, and their response schemas
checked with ``jsonschema``.

OpenAPI 3.0 schemas are not JSON Schema; ``translate`` makes them JSON Schema 2020-12:

- ``nullable: true`` becomes a type union with ``"null"`` (and ``null`` joins an ``enum``);
- the siblings of a ``$ref`` are ignored, as OpenAPI 3.0 says (``nullable`` is honoured);
- ``discriminator``, ``example`` and ``x-…`` extensions are annotations and are dropped;
- ``format: date-time`` is checked (RFC 3339, the shape of Okta's timestamps).

``additionalProperties`` is whatever the schema says (mostly unsaid: extra members are
allowed); ``required`` and types are enforced. The spec's own known defects are tolerated
here, each once, with a comment naming it (``_tolerate_known_defects``,
``_without_back_references``); the defects about undocumented statuses are for the tests
to name at the call (``OktaSpec.check_undocumented``).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from jsonschema import Draft202012Validator, FormatChecker

PROJECT = Path(__file__).resolve().parents[1]
SHARED_SPEC = PROJECT.parent / "shared" / "okta-spec" / "okta_subset.json"
# a copy kept with the tests, for a checkout that has no ../shared beside it
VENDORED_SPEC = PROJECT / "tests" / "fixtures" / "okta-spec" / "okta_subset.json"
SPEC_PATH = SHARED_SPEC if SHARED_SPEC.is_file() else VENDORED_SPEC
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
METHODS = ("get", "put", "post", "delete", "patch")
SCHEMA_REF = "#/components/schemas/"
DROPPED = frozenset({"discriminator", "example", "xml", "externalDocs", "nullable"})

FORMATS = FormatChecker(formats=())
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # the type, not the format, judges a non-string
    if not _RFC3339.fullmatch(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value)  # a real date and time (no 2026-02-30)
    return True


@dataclass(frozen=True)
class Operation:
    """One documented operation: its method, its path template and the spec's text of it."""

    operation_id: str
    method: str
    path: str
    raw: Mapping[str, Any]

    def url(self, **params: str) -> str:
        """The path with its ``{parameters}`` filled in (percent-encoded)."""
        path = self.path
        for name, value in params.items():
            if "{" + name + "}" not in path:
                raise KeyError(f"{self.operation_id}: no parameter {{{name}}} in {self.path}")
            path = path.replace("{" + name + "}", quote(value, safe=""))
        if "{" in path:
            raise KeyError(f"{self.operation_id}: a parameter of {path} is not filled in")
        return path


class OktaSpec:
    """The document, its operations and its schemas as JSON Schema."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.operations = {op.operation_id: op for op in self._operations()}

    @classmethod
    def load(cls, path: Path = SPEC_PATH) -> OktaSpec:
        if not path.is_file():
            raise FileNotFoundError(
                f"Okta's OpenAPI description is not at {path} "
                "(it sits at ../shared/okta-spec/okta_subset.json from the project root)"
            )
        return cls(json.loads(path.read_text()))

    def _operations(self) -> Iterator[Operation]:
        for path, item in self.document["paths"].items():
            for method in METHODS:
                if method in item:
                    raw = item[method]
                    yield Operation(raw["operationId"], method.upper(), path, raw)

    # -- references and content ---------------------------------------------------------

    def pointer(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are expected, not {ref!r}")
        node: Any = self.document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def resolve(self, node: Any) -> Any:
        """A response, example or request body, its ``$ref`` followed."""
        while isinstance(node, Mapping) and "$ref" in node:
            node = self.pointer(node["$ref"])
        return node

    def request_content(self, operation_id: str, media: str = JSON) -> Mapping[str, Any]:
        body = self.resolve(self.operations[operation_id].raw["requestBody"])
        content: Mapping[str, Any] = body["content"][media]
        return content

    def request_examples(self, operation_id: str, media: str = JSON) -> dict[str, Any]:
        """The documented request examples by name: fresh copies of their ``value``."""
        examples = self.request_content(operation_id, media).get("examples", {})
        return {
            name: copy.deepcopy(self.resolve(example)["value"])
            for name, example in examples.items()
        }

    def request_schema(self, operation_id: str, media: str = JSON) -> Mapping[str, Any]:
        schema: Mapping[str, Any] = self.request_content(operation_id, media)["schema"]
        return schema

    def response(self, operation_id: str, status: int) -> Mapping[str, Any] | None:
        """The documented response of ``operation_id`` for ``status`` (``None``: undocumented)."""
        found = self.operations[operation_id].raw["responses"].get(str(status))
        return None if found is None else self.resolve(found)

    def response_examples(self, operation_id: str, status: int) -> dict[str, Any]:
        response = self.response(operation_id, status) or {}
        content = (response.get("content") or {}).get(JSON, {})
        return {
            name: copy.deepcopy(self.resolve(example)["value"])
            for name, example in content.get("examples", {}).items()
        }

    # -- schemas ------------------------------------------------------------------------

    @cached_property
    def definitions(self) -> dict[str, Any]:
        """Every component schema, known defects tolerated, as JSON Schema ``$defs``."""
        schemas = _tolerate_known_defects(self.document["components"]["schemas"])
        return {
            name: translate(_without_back_references(name, schema, schemas))
            for name, schema in schemas.items()
        }

    def component(self, name: str) -> dict[str, Any]:
        """A reference to the component schema ``name``, to validate against."""
        if name not in self.document["components"]["schemas"]:
            raise KeyError(f"no component schema {name!r}")
        return {"$ref": SCHEMA_REF + name}

    def errors(self, schema: Mapping[str, Any], instance: Any) -> list[str]:
        """What is wrong with ``instance`` against an OpenAPI ``schema``: one line each."""
        root = {**translate(schema), "$defs": self.definitions}
        validator = Draft202012Validator(root, format_checker=FORMATS)
        found = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.path])
        return [_describe(error) for error in found]

    def validate(self, schema: Mapping[str, Any], instance: Any, what: str) -> None:
        errors = self.errors(schema, instance)
        if errors:
            shown = json.dumps(instance)[:1500]
            raise AssertionError(
                f"{what}: not as Okta documents it:\n  " + "\n  ".join(errors) + f"\nbody: {shown}"
            )

    # -- responses ----------------------------------------------------------------------

    def check(self, response: httpx.Response, operation_id: str, status: int) -> Any:
        """The answer is Okta's documented ``status`` of ``operation_id``: that status code,
        ``application/json`` when a body is documented (else no body), and a body valid
        against the documented schema. Returns the parsed body (``None`` without one)."""
        documented = self.response(operation_id, status)
        if documented is None:
            raise AssertionError(f"{operation_id} does not document {status}: a test bug")
        return self._check(response, operation_id, status, documented.get("content") or {})

    def check_undocumented(
        self, response: httpx.Response, operation_id: str, status: int, schema: str, defect: str
    ) -> Any:
        """A status Okta sends but the spec leaves out (``defect`` names the defect, from the
        spec's README), checked against the component schema Okta answers it with."""
        if self.response(operation_id, status) is not None:
            raise AssertionError(f"{operation_id} documents {status} now: drop '{defect}'")
        content = {JSON: {"schema": self.component(schema)}}
        return self._check(response, operation_id, status, content)

    def _check(
        self,
        response: httpx.Response,
        operation_id: str,
        status: int,
        content: Mapping[str, Any],
    ) -> Any:
        what = f"{response.request.method} {response.request.url.path} ({operation_id})"
        assert response.status_code == status, (
            f"{what}: expected {status}, got {response.status_code}: {response.text[:800]}"
        )
        if not content:
            assert response.content == b"", f"{what}: {status} documents no body: {response.text}"
            return None
        assert JSON in content, f"{operation_id} {status}: no JSON body documented: a test bug"
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        assert media == JSON, f"{what}: Content-Type {media!r}, expected {JSON}"
        body = response.json()
        self.validate(content[JSON]["schema"], body, f"{what} {status}")
        return body


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    message = error.message if len(error.message) < 300 else error.message[:300] + "…"
    if error.context:  # oneOf / anyOf: say why each branch failed
        reasons = sorted({_describe(e) for e in error.context})[:6]
        message += " [" + "; ".join(reasons) + "]"
    return f"{where}: {message}"


# -- OpenAPI 3.0 → JSON Schema 2020-12 --------------------------------------------------


def translate(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema 2020-12 (component references → ``$defs``)."""
    if isinstance(node, list):
        return [translate(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith(SCHEMA_REF):
            raise ValueError(f"a schema may only refer to a component schema, not {ref!r}")
        target = {"$ref": "#/$defs/" + ref[len(SCHEMA_REF) :]}
        # OpenAPI 3.0 ignores a $ref's siblings; `nullable` beside one is honoured all the same
        return {"anyOf": [{"type": "null"}, target]} if node.get("nullable") is True else target
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROPPED or key.startswith("x-"):
            continue
        if key in ("properties", "patternProperties"):  # member names, not keywords
            out[key] = {name: translate(schema) for name, schema in value.items()}
        elif key in ("enum", "default", "required", "const"):  # values, not schemas
            out[key] = copy.deepcopy(value)
        else:
            out[key] = translate(value)
    return with_null(out) if node.get("nullable") is True else out


def with_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A translated schema that also admits ``null`` (OpenAPI 3.0's ``nullable: true``)."""
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif kind is None:
        schema = {"anyOf": [{"type": "null"}, schema]}
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


def _component(ref: object) -> str | None:
    if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
        return ref[len(SCHEMA_REF) :]
    return None


def _without_back_references(
    name: str, schema: Mapping[str, Any], schemas: Mapping[str, Any]
) -> Mapping[str, Any]:
    """Spec defect (README): ``JsonSigningWebKey`` composes ``JsonWebKeyEC`` /
    ``JsonWebKeyRsa`` with ``oneOf``, and each of them refers back to it in ``allOf``: a
    cycle no JSON Schema validator finishes. The back-reference means inheritance (an RSA
    key *is a* signing key, and the parent already holds the child's branch), so an ``allOf``
    entry naming a parent whose ``oneOf``/``anyOf`` names this schema is dropped."""
    entries = schema.get("allOf")
    if not entries:
        return schema
    kept = []
    for entry in entries:
        parent = schemas.get(_component(entry.get("$ref")) or "", {})
        branches = [*parent.get("oneOf", []), *parent.get("anyOf", [])]
        if any(_component(branch.get("$ref")) == name for branch in branches):
            continue
        kept.append(entry)
    if len(kept) == len(entries):
        return schema
    trimmed = {k: v for k, v in schema.items() if k != "allOf"}
    return {**trimmed, "allOf": kept} if kept else trimmed


def _tolerate_known_defects(schemas: Mapping[str, Any]) -> dict[str, Any]:
    """The component schemas with the spec's known schema defects (README) tolerated; each
    patch applies only while its defect is there."""
    patched: dict[str, Any] = copy.deepcopy(dict(schemas))
    client = patched["Client"]["properties"]

    # Spec defect (README): `Client.post_logout_redirect_uris` is typed string, though
    # Okta's own examples (ClientRequestWeb, ClientResponseWeb) give an array of strings,
    # which is what Okta sends: accept the array (and the string it is typed as).
    uris = client["post_logout_redirect_uris"]
    if uris.get("type") == "string":
        client["post_logout_redirect_uris"] = {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        }

    # Spec defect (README): the ClientResponseServiceJwks example echoes its key with
    # `"use": null`, which fails its own `oneOf` (`use` is `sig` or `enc`, not nullable): a
    # key's `use` may be null in a client's `jwks`, as Okta sends it.
    for key_schema in ("JsonSigningWebKey", "JsonEncryptionWebKey"):
        use = patched[key_schema]["properties"]["use"]
        if use.get("nullable") is not True:
            use["nullable"] = True

    # Spec defect (found here, not in the README): `Client.jwks.keys` items are
    # `oneOf: [JsonSigningWebKey, JsonEncryptionWebKey]`, but an RSA key without `use` (or
    # with `"use": null`), as in Okta's own ClientRequestServiceJwks and
    # ClientResponseServiceJwks examples, is valid against both, so `oneOf` refuses every
    # such key. Read it as `anyOf`: a key must be a signing key or an encryption key.
    items = client["jwks"]["properties"]["keys"]["items"]
    if "oneOf" in items:
        items["anyOf"] = items.pop("oneOf")

    # Spec defect (found here, not in the README): a client's JSON Web Key answer is
    # `oneOf: [OAuth2ClientJsonSigningKeyResponse, OAuth2ClientJsonEncryptionKeyResponse]`,
    # but the signing key's RSA branch leaves `use` open, so an RSA encryption key (Okta's
    # own oAuthClientJsonActiveEncryptionKey example) is valid against both and `oneOf`
    # refuses it. A signing key's `use` is `sig` (Okta's signing examples all say so).
    rsa_signing = patched["OAuth2ClientJsonWebKeyRsaResponse"]
    if "use" not in rsa_signing.get("properties", {}):
        rsa_signing.setdefault("properties", {})["use"] = {"type": "string", "enum": ["sig"]}

    # Spec defect (found here, not in the README): `TimeDuration.pattern` reads
    # `^P(?:$)…(T(?:\d)…)`, which no duration but "P" matches, so Okta's own ApiToken
    # examples (`"tokenWindow": "P30D"`) fail it. Okta's SDKs carry the lookaheads meant,
    # `^P(?!$)…(T(?=\d)…)` (an ISO 8601 duration): read it so.
    duration = patched["TimeDuration"]
    if "(?:$)" in duration.get("pattern", ""):
        pattern = duration["pattern"].replace("(?:$)", "(?!$)")
        duration["pattern"] = pattern.replace("(T(?:\\d)", "(T(?=\\d)")
    return patched
