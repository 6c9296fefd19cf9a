"""What every model shares: JSON in and out, tolerance, a readable repr, open enums.

Models are pydantic v2 models, as in Okta's generated v3 SDK. Attributes are snake_case;
the JSON member names (``_links``, ``lastRotated``, ``errorCode`` …) are their aliases, and
either spelling is accepted when building a model. Members a model does not know are kept
(``model_extra``) and written back by :meth:`OktaModel.to_dict`, so a newer server never
breaks an older client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)

__all__ = [
    "OktaDateTime",
    "OktaEnum",
    "OktaModel",
    "OpenEnum",
    "format_okta_datetime",
    "json_member",
]


def format_okta_datetime(value: datetime) -> str:
    """Okta's timestamp form, ``YYYY-MM-DDTHH:mm:ss.SSSZ`` (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


OktaDateTime = Annotated[
    datetime, PlainSerializer(format_okta_datetime, return_type=str, when_used="json")
]
"""A ``datetime`` that is written as Okta writes timestamps."""

E = TypeVar("E", bound="OktaEnum")

OpenEnum = Annotated[E | str, Field(union_mode="left_to_right")]
"""A member of the enum ``E`` when it knows the value, else the plain string."""


def json_member(name: str) -> Any:
    """An optional field whose JSON member is ``name`` (e.g. ``lastRotated``).

    Both ``name`` and the attribute's own name are accepted on input; ``to_dict`` writes
    ``name``. (A pydantic ``alias`` would make type checkers expect ``name`` as the keyword,
    ``AuthorizationServer(_links=…)``; this keeps ``AuthorizationServer(links=…)``.)
    """
    return Field(default=None, validation_alias=name, serialization_alias=name)


class OktaEnum(StrEnum):
    """An enum whose members are strings, so ``member == "ACTIVE"`` holds.

    Model fields typed with an ``OktaEnum`` also accept values the enum does not know (they
    stay plain ``str``): Okta adds values over time, and an old client must not crash on them.
    """

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    @classmethod
    def from_json(cls, json_str: str) -> Self:
        """The member whose value is the JSON string ``json_str`` (e.g. ``'"sig"'``)."""
        return cls(json.loads(json_str))


class _Shown:
    """Shows a value in a repr as a given text (used for timestamps)."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return repr(self._text)


class OktaModel(BaseModel):
    """Base of every model: tolerant parsing, ``to_dict``/``to_json``, a short repr."""

    model_config = ConfigDict(
        populate_by_name=True,
        validate_assignment=True,
        extra="allow",
        protected_namespaces=(),
    )

    read_only_members: ClassVar[frozenset[str]] = frozenset()
    """JSON members the server sets; left out of request bodies."""

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Self:
        """Build the model from a dict of JSON members (or attribute names)."""
        return cls.model_validate(obj)

    @classmethod
    def from_json(cls, json_str: str | bytes) -> Self:
        """Build the model from a JSON document."""
        return cls.model_validate_json(json_str)

    def to_dict(self, *, exclude_read_only: bool = False) -> dict[str, Any]:
        """The JSON members as a dict, without ``None`` members.

        With ``exclude_read_only`` the members the server sets (``id``, ``_links``,
        ``created`` …) are left out at every level: that is the body the client sends.
        """
        return self.model_dump(
            mode="json",
            by_alias=True,
            exclude_none=True,
            context={"exclude_read_only": exclude_read_only},
        )

    def to_json(self) -> str:
        """The model as a JSON document."""
        return json.dumps(self.to_dict())

    def to_str(self) -> str:
        """The JSON members, pretty-printed."""
        return json.dumps(self.to_dict(), indent=2)

    @model_serializer(mode="wrap")
    def _drop_read_only(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        data = handler(self)
        context = info.context if isinstance(info.context, dict) else {}
        if isinstance(data, dict) and context.get("exclude_read_only"):
            for member in self.read_only_members:
                data.pop(member, None)
        return data

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if isinstance(value, datetime):
                yield name, _Shown(format_okta_datetime(value))
            elif value is not None:
                yield name, value
