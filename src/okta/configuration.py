"""``Configuration``: where the server is, how to authenticate, how patient to be.

Authentication (the ``Authorization`` header), in this order:

1. an API token in ``api_key['apiToken']`` (non-empty): ``SSWS <token>``, or
   ``<prefix> <token>`` when ``api_key_prefix['apiToken']`` is set (e.g. ``Bearer``);
2. otherwise an OAuth access token in ``access_token`` (non-empty): ``Bearer <token>``;
3. otherwise no ``Authorization`` header (the server answers 401).

Empty strings count as unset, so the seed's ``configuration.access_token =
os.environ["ACCESS_TOKEN"]`` with ``ACCESS_TOKEN=""`` authenticates with the API token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "API_TOKEN",
    "DEFAULT_API_KEY_PREFIX",
    "DEFAULT_HOST",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_WAIT",
    "DEFAULT_TIMEOUT",
    "Configuration",
]

DEFAULT_HOST = "https://subdomain.okta.com"
API_TOKEN = "apiToken"
"""The key of ``api_key`` and ``api_key_prefix`` that holds the API token (Okta's scheme name)."""
DEFAULT_API_KEY_PREFIX = "SSWS"
DEFAULT_TIMEOUT = 30.0
"""Seconds allowed to connect, and between bytes when sending or receiving."""
DEFAULT_MAX_RETRIES = 2
"""How many times a 429 answer is retried (Okta's SDKs default to 2)."""
DEFAULT_MAX_RETRY_WAIT = 60.0
"""The longest wait, in seconds, before a retry; a 429 that asks for more is raised at once."""


@dataclass
class Configuration:
    """Settings of an :class:`~okta.ApiClient`.

    ``api_key``/``api_key_prefix`` are dicts keyed by ``'apiToken'``, as in Okta's SDK.
    ``verify_ssl`` (default on) checks the server's certificate against ``ssl_ca_cert`` (a
    CA bundle file) or the bundled Mozilla roots; ``cert_file``/``key_file`` present a client
    certificate. ``timeout`` is in seconds (``None``: wait forever). ``proxy`` is a proxy URL;
    the ``HTTPS_PROXY``/``NO_PROXY`` environment variables are honoured as well. A 429 answer
    is retried up to ``max_retries`` times, after ``X-Rate-Limit-Reset`` - ``Date`` + 1 s,
    unless that exceeds ``max_retry_wait`` seconds. Secrets are left out of the ``repr``.
    """

    host: str = DEFAULT_HOST
    api_key: dict[str, str] = field(default_factory=dict, repr=False)
    api_key_prefix: dict[str, str] = field(default_factory=dict)
    access_token: str | None = field(default=None, repr=False)
    verify_ssl: bool = True
    ssl_ca_cert: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    timeout: float | None = DEFAULT_TIMEOUT
    proxy: str | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT

    @property
    def base_url(self) -> str:
        """``host`` without a trailing slash."""
        return self.host.rstrip("/")

    def get_api_key_with_prefix(self, identifier: str = API_TOKEN) -> str | None:
        """The API key with its prefix (``SSWS <token>``), or ``None`` when unset or empty."""
        key = (self.api_key.get(identifier) or "").strip()
        if not key:
            return None
        prefix = self.api_key_prefix.get(identifier) or DEFAULT_API_KEY_PREFIX
        return f"{prefix} {key}"

    def authorization(self) -> str | None:
        """The ``Authorization`` header value: the API token first, else the access token."""
        api_key = self.get_api_key_with_prefix(API_TOKEN)
        if api_key:
            return api_key
        access_token = (self.access_token or "").strip()
        return f"Bearer {access_token}" if access_token else None
