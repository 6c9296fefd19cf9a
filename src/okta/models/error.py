"""``Error``: the body of every Okta error response."""

from pydantic import Field

from okta.models._base import OktaModel
from okta.models.error_cause import ErrorCause

__all__ = ["Error"]


class Error(OktaModel):
    """An Okta error: ``errorCode`` (e.g. ``E0000007``), a summary, and its causes."""

    error_code: str | None = Field(default=None, alias="errorCode")
    error_summary: str | None = Field(default=None, alias="errorSummary")
    error_link: str | None = Field(default=None, alias="errorLink")
    error_id: str | None = Field(default=None, alias="errorId")
    error_causes: list[ErrorCause] | None = Field(default=None, alias="errorCauses")
