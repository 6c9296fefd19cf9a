"""Which members of a request body keyrotor takes, so that none is silently dropped.

A body member is one of: a member keyrotor stores (checked by its parser), a read-only
member of Okta's schema that Okta's SDK sends back and Okta ignores (accepted, ignored), a
member of Okta's schema that keyrotor does not support (refused unless null), or not a
member of Okta's schema at all (refused).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any


def check_members(
    body: Mapping[str, Any],
    schema: str,
    known: Collection[str],
    unsupported: Mapping[str, str],
    causes: list[str],
    prefix: str = "",
) -> None:
    """Add a cause for each member of ``body`` not in ``known``; ``unsupported`` maps the
    members of Okta's ``schema`` keyrotor does not support to the reason (null is fine)."""
    for name, value in body.items():
        field = f"{prefix}{name}"
        if name in unsupported:
            if value is not None:
                causes.append(f"{field}: {unsupported[name]}")
        elif name not in known:
            causes.append(f"{field}: Not a member of Okta's {schema}.")
