"""The HTTP adapter: Okta's management API and the public OAuth endpoints, on Starlette."""

from keyrotor.http.app import create_app

__all__ = ["create_app"]
