"""Use cases of the OAuth side: registered clients, custom scopes, issuing access tokens.

Tokens are signed with the issuing server's ACTIVE key at that instant (``KeyService.
active_key`` applies a due AUTO rotation first). The org authorization server is the
server row ``ORG_SERVER_ID``, made on first use with the same lifecycle as any other; it
issues the ``okta.authorizationServers.*`` scopes, and only to clients granted them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import timedelta

from keyrotor import tokens
from keyrotor.apitokens import ALL_SCOPES
from keyrotor.clients import AuthMethod, ClientSpec, OAuthClient, new_client, new_client_secret
from keyrotor.config import DEFAULT_CLOCK_SKEW
from keyrotor.errors import InvalidClient, NotFound, ValidationFailed
from keyrotor.keys import SigningKey
from keyrotor.scopes import MetadataPublish, Scope, ScopeSpec
from keyrotor.servers import ORG_SERVER_ID, AuthorizationServer
from keyrotor.service import SERVER_TYPE, Jwks, KeyService, ServerSpec
from keyrotor.storage import Conflict, Transaction
from keyrotor.tokens import IssuedToken

CLIENT_TYPE = "OAuth2Client"
SCOPE_TYPE = "OAuth2Scope"
ORG_SPEC = ServerSpec(
    name="org", audiences=("org",), description="The org authorization server (management API)"
)
BAD_CLIENT = (
    "Client authentication failed. Either the client or the client credentials are invalid."
)


class OAuthService:
    def __init__(
        self,
        keys: KeyService,
        token_lifetime: timedelta = tokens.DEFAULT_LIFETIME,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    ) -> None:
        self.keys = keys
        self.store = keys.store
        self.clock = keys.clock
        self.token_lifetime = token_lifetime
        self.clock_skew = clock_skew

    # -- clients ---------------------------------------------------------------------

    def register_client(self, spec: ClientSpec) -> tuple[OAuthClient, str]:
        """A new client and its secret: returned once, stored only as a digest."""
        secret = new_client_secret()
        client = new_client(spec, self.clock(), secret)
        with self.store.transaction(write=True) as tx:
            tx.insert_client(client)
        return client, secret

    def get_client(self, client_id: str) -> OAuthClient:
        with self.store.transaction() as tx:
            client = tx.get_client(client_id)
        if client is None:
            raise NotFound(client_id, CLIENT_TYPE)
        return client

    def list_clients(self) -> list[OAuthClient]:
        with self.store.transaction() as tx:
            return tx.list_clients()

    def delete_client(self, client_id: str) -> None:
        with self.store.transaction(write=True) as tx:
            if not tx.delete_client(client_id):
                raise NotFound(client_id, CLIENT_TYPE)

    def authenticate_client(self, client_id: str, secret: str, method: AuthMethod) -> OAuthClient:
        """The client, if the secret is right and sent the way the client registered."""
        basic = method is AuthMethod.BASIC
        with self.store.transaction() as tx:
            client = tx.get_client(client_id)
        if client is None or not client.secret_matches(secret):
            raise InvalidClient(BAD_CLIENT, basic=basic)
        if client.auth_method is not method:
            raise InvalidClient(
                f"The client is registered to authenticate with {client.auth_method.value}.",
                basic=basic,
            )
        return client

    # -- scopes ----------------------------------------------------------------------

    def create_scope(self, server_id: str, spec: ScopeSpec) -> Scope:
        self._managed(server_id)
        scope = Scope.new(server_id, spec, self.clock())
        with self._scope_writer(server_id, spec.name) as tx:
            tx.insert_scope(scope)
        return scope

    def list_scopes(self, server_id: str) -> list[Scope]:
        self._managed(server_id)
        with self.store.transaction() as tx:
            return tx.list_scopes(server_id)

    def get_scope(self, server_id: str, scope_id: str) -> Scope:
        self._managed(server_id)
        with self.store.transaction() as tx:
            scope = tx.get_scope(server_id, scope_id)
        if scope is None:
            raise NotFound(scope_id, SCOPE_TYPE)
        return scope

    def replace_scope(self, server_id: str, scope_id: str, spec: ScopeSpec) -> Scope:
        scope = self.get_scope(server_id, scope_id).replaced(spec, self.clock())
        with self._scope_writer(server_id, spec.name, scope_id) as tx:
            if tx.get_scope(server_id, scope_id) is None:
                raise NotFound(scope_id, SCOPE_TYPE)
            tx.update_scope(scope)
        return scope

    def delete_scope(self, server_id: str, scope_id: str) -> None:
        self._managed(server_id)
        with self.store.transaction(write=True) as tx:
            if not tx.delete_scope(server_id, scope_id):
                raise NotFound(scope_id, SCOPE_TYPE)

    def published_scopes(self, server_id: str) -> list[str]:
        """Names of the scopes an ACTIVE server lists in its discovery documents."""
        self.token_server(server_id)
        with self.store.transaction() as tx:
            found = tx.list_scopes(server_id)
        return [s.name for s in found if s.metadata_publish is MetadataPublish.ALL_CLIENTS]

    # -- tokens ----------------------------------------------------------------------

    def token_server(self, server_id: str) -> AuthorizationServer:
        """A custom server that issues tokens: ACTIVE, not the org server; else not found."""
        server = self._managed(server_id)
        if not server.is_active:
            raise NotFound(server_id, SERVER_TYPE)
        return server

    def issue(
        self, server_id: str, client: OAuthClient, requested: Sequence[str], iss: str
    ) -> IssuedToken:
        """An access token of a custom server, for scopes that server defines."""
        with self.store.transaction() as tx:
            defined = [s.name for s in tx.list_scopes(server_id)]
        tokens.check_allowed(requested, defined)
        server, key = self.keys.active_key(server_id)
        if not server.is_active:
            raise NotFound(server_id, SERVER_TYPE)
        return self._mint(key, client, requested, iss, tokens.audience(server.audiences))

    def issue_org(self, client: OAuthClient, requested: Sequence[str], iss: str) -> IssuedToken:
        """An org-server access token (``aud`` = ``iss``) for scopes granted to the client."""
        tokens.check_allowed(requested, [s for s in ALL_SCOPES if client.granted_org_scope(s)])
        self.ensure_org()
        _, key = self.keys.active_key(ORG_SERVER_ID)
        return self._mint(key, client, requested, iss, iss)

    def ensure_org(self) -> None:
        self.keys.ensure_server(ORG_SERVER_ID, ORG_SPEC)

    def org_jwks(self) -> Jwks:
        self.ensure_org()
        return self.keys.jwks(ORG_SERVER_ID)

    def org_keys(self) -> list[SigningKey]:
        """The org server's published keys (none before it first exists)."""
        try:
            return self.keys.list_keys(ORG_SERVER_ID)
        except NotFound:
            return []

    # -- internals -------------------------------------------------------------------

    def _mint(
        self,
        key: SigningKey,
        client: OAuthClient,
        scopes: Sequence[str],
        iss: str,
        aud: str | list[str],
    ) -> IssuedToken:
        claims = tokens.claims(
            issuer=iss,
            aud=aud,
            client_id=client.client_id,
            scopes=scopes,
            now=self.clock(),
            lifetime=self.token_lifetime,
        )
        signed = self.keys.factory.sign(key.sealed_private, key.kid, claims)
        return IssuedToken(signed, int(self.token_lifetime.total_seconds()), tuple(scopes))

    def _managed(self, server_id: str) -> AuthorizationServer:
        if server_id == ORG_SERVER_ID:
            raise NotFound(server_id, SERVER_TYPE)
        return self.keys.get_server(server_id)

    @contextlib.contextmanager
    def _scope_writer(self, server_id: str, name: str, scope_id: str = "") -> Iterator[Transaction]:
        """A write transaction under the server's lock that refuses a name another scope of
        the server has (checked first, and by the database's unique constraint)."""
        try:
            with self.store.transaction(write=True) as tx:
                if tx.get_server(server_id, lock=True) is None:
                    raise NotFound(server_id, SERVER_TYPE)
                if any(s.name == name and s.id != scope_id for s in tx.list_scopes(server_id)):
                    raise _duplicate(name)
                yield tx
        except Conflict:
            raise _duplicate(name) from None


def _duplicate(name: str) -> ValidationFailed:
    return ValidationFailed(
        "scope", f"name: A scope named '{name}' already exists on this authorization server."
    )
