"""keyrotor: self-hosted, Okta-compatible signing keys for OAuth 2.0 / OpenID Connect."""

__version__ = "0.1.0"
