"""``ErrorCause``: one cause of an Okta error."""

from pydantic import Field

from okta.models._base import OktaModel

__all__ = ["ErrorCause"]


class ErrorCause(OktaModel):
    """A detail of an error, e.g. which parameter was invalid."""

    error_summary: str | None = Field(default=None, alias="errorSummary")
