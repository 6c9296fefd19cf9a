"""Models: Okta's JSON in and out, unknown members and values tolerated, a readable repr."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pprint import pformat

import pytest

import okta
from okta.models._base import format_okta_datetime
from okta.models.authorization_server import AuthorizationServer
from okta.models.authorization_server_json_web_key import AuthorizationServerJsonWebKey
from okta.models.error import Error
from okta.models.jwk_use import JwkUse
from okta.models.jwk_use_type import JwkUseType

from .conftest import fixture, okta_error


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (AuthorizationServerJsonWebKey, "key"),
        (AuthorizationServer, "authorization_server"),
    ],
)
def test_okta_examples_round_trip(model: type[okta.models.AuthorizationServer], name: str) -> None:
    """from_json then to_dict gives back Okta's example, member for member, in order."""
    document = fixture(name)
    parsed = model.from_json(json.dumps(document))
    assert parsed.to_dict() == document
    assert list(parsed.to_dict()) == list(document)
    assert json.loads(parsed.to_json()) == document
    assert model.from_dict(document) == parsed


def test_key_members_are_typed_and_aliased() -> None:
    """snake_case attributes; `_links` is `links`; `self` is `var_self`, as Okta generates."""
    key = AuthorizationServerJsonWebKey.from_dict(fixture("key"))
    assert key.links is not None and key.links.var_self is not None
    assert key.links.var_self.hints is not None
    assert key.links.var_self.hints.allow == [okta.HttpMethod.GET]
    built = AuthorizationServerJsonWebKey(
        kid="k", links=okta.LinksSelf(var_self=okta.HrefObject(href="h"))
    )
    assert built.to_dict() == {"kid": "k", "_links": {"self": {"href": "h"}}}
    assert AuthorizationServerJsonWebKey.from_dict(built.to_dict()) == built
    assert (
        AuthorizationServerJsonWebKey.from_dict({"kid": "k", "links": {"var_self": {"href": "h"}}})
        == built
    )


def test_unknown_members_are_kept() -> None:
    """A member the model does not know is kept and written back (forward compatible)."""
    document = {**fixture("key"), "x5c": ["MIIC..."], "crv": None}
    key = AuthorizationServerJsonWebKey.from_dict(document)
    assert key.model_extra == {"x5c": ["MIIC..."], "crv": None}
    assert key.to_dict()["x5c"] == ["MIIC..."]


def test_unknown_enum_values_are_kept_as_strings() -> None:
    """Values Okta may add later do not break parsing (they crash Okta's SDK 3.4.6)."""
    document = fixture("authorization_server")
    document = {**document, "status": "SUSPENDED", "issuerMode": "FUTURE"}
    document["credentials"]["signing"]["rotationMode"] = "SCHEDULED"
    document["_links"]["self"]["hints"]["allow"] = ["GET", "PATCH"]
    server = AuthorizationServer.from_dict(document)
    assert server.status == "SUSPENDED" and not isinstance(server.status, okta.LifecycleStatus)
    assert server.credentials is not None and server.credentials.signing is not None
    assert server.credentials.signing.rotation_mode == "SCHEDULED"
    assert server.links is not None and server.links.var_self is not None
    assert server.links.var_self.hints is not None
    assert server.links.var_self.hints.allow == [okta.HttpMethod.GET, "PATCH"]
    assert server.to_dict()["status"] == "SUSPENDED"


def test_known_enum_values_become_members() -> None:
    """Known values become enum members, which still compare equal to their strings."""
    server = AuthorizationServer.from_dict(fixture("authorization_server"))
    assert server.status is okta.LifecycleStatus.ACTIVE
    assert server.status == "ACTIVE"
    assert okta.JwkUseType.from_json('"sig"') is JwkUseType.SIG


def test_jwk_use_defaults_to_sig() -> None:
    """The seed's okta.JwkUse() is {"use": "sig"}, the only value Okta accepts."""
    assert JwkUse().to_dict() == {"use": "sig"}
    assert JwkUse().use is JwkUseType.SIG and JwkUse().use == "sig"
    assert JwkUse(use=None).to_dict() == {}
    assert JwkUse.from_json('{"use": "sig"}') == JwkUse()


def test_error_members() -> None:
    """Error reads errorCode, errorSummary, errorLink, errorId and errorCauses."""
    error = Error.from_dict(okta_error("E0000001"))
    assert (error.error_code, error.error_link) == ("E0000001", "E0000001")
    assert error.error_summary == "Api validation failed: rotateKeys"
    assert error.error_causes is not None
    assert error.error_causes[0].error_summary == "Invalid value specified for key 'use' parameter"
    assert error.to_dict() == okta_error("E0000001")


def test_read_only_members_are_left_out_of_request_bodies() -> None:
    """to_dict(exclude_read_only=True) drops what the server sets, at every level."""
    server = AuthorizationServer.from_dict(fixture("authorization_server"))
    assert server.to_dict(exclude_read_only=True) == {
        "name": "python_sdk_test",
        "description": "Test Auth Server",
        "audiences": ["api://default"],
        "issuerMode": "ORG_URL",
        "credentials": {"signing": {"rotationMode": "AUTO"}},
    }


def test_repr_is_short_and_readable() -> None:
    """The repr leaves out unset members and shows timestamps as Okta writes them."""
    key = AuthorizationServerJsonWebKey(kid="k1", status="ACTIVE", use="sig")
    assert repr(key) == "AuthorizationServerJsonWebKey(status='ACTIVE', kid='k1', use='sig')"
    server = AuthorizationServer.from_dict(fixture("authorization_server"))
    assert "created='2020-08-27T18:15:21.000Z'" in repr(server)
    assert "status=LifecycleStatus.ACTIVE" in repr(server)
    text = pformat([AuthorizationServerJsonWebKey.from_dict(k) for k in fixture("keys")])
    assert text.startswith("[AuthorizationServerJsonWebKey(kty='RSA', status='ACTIVE', alg='RS256'")
    assert "None" not in text


def test_to_str_is_the_json_pretty_printed() -> None:
    """to_str, as in Okta's generated models."""
    assert json.loads(JwkUse().to_str()) == {"use": "sig"}


def test_invalid_members_raise_validation_errors() -> None:
    """A member of the wrong type is refused (pydantic's ValidationError, a ValueError)."""
    with pytest.raises(ValueError, match="audiences"):
        AuthorizationServer.from_dict({"audiences": "not a list"})
    server = AuthorizationServer(name="x")
    with pytest.raises(ValueError, match="audiences"):
        server.audiences = 3  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2020, 8, 27, 18, 15, 21, tzinfo=UTC), "2020-08-27T18:15:21.000Z"),
        (datetime(2020, 8, 27, 18, 15, 21, 123456, tzinfo=UTC), "2020-08-27T18:15:21.123Z"),
        (
            datetime(2020, 8, 27, 20, 15, 21, tzinfo=timezone(timedelta(hours=2))),
            "2020-08-27T18:15:21.000Z",
        ),
        (datetime(2020, 8, 27, 18, 15, 21), "2020-08-27T18:15:21.000Z"),
    ],
)
def test_timestamps_are_written_as_okta_writes_them(value: datetime, text: str) -> None:
    """YYYY-MM-DDTHH:mm:ss.SSSZ in UTC; naive datetimes are taken as UTC."""
    assert format_okta_datetime(value) == text
