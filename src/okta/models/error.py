"""``Error``: the body of every Okta error response."""

from okta.models._base import OktaModel, json_member
from okta.models.error_cause import ErrorCause

__all__ = ["Error"]


class Error(OktaModel):
    """An Okta error: ``errorCode`` (e.g. ``E0000007``), a summary, and its causes."""

    error_code: str | None = json_member("errorCode")
    error_summary: str | None = json_member("errorSummary")
    error_link: str | None = json_member("errorLink")
    error_id: str | None = json_member("errorId")
    error_causes: list[ErrorCause] | None = json_member("errorCauses")
