"""``ErrorCause``: one cause of an Okta error."""

from okta.models._base import OktaModel, json_member

__all__ = ["ErrorCause"]


class ErrorCause(OktaModel):
    """A detail of an error, e.g. which parameter was invalid."""

    error_summary: str | None = json_member("errorSummary")
