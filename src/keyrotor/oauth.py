"""Use cases of the OAuth side: registered clients, custom scopes, issuing access tokens.

Tokens are signed with the issuing server's ACTIVE key at that instant, taken from the
server's snapshot (``KeyService.snapshot`` applies a due AUTO rotation first). Issuing is
one call, ``issue``; ``issue_cached`` is the same use case answered from the caches alone
(no store, no thread), or ``None`` when something must be read. The org authorization
server is the server row ``ORG_SERVER_ID``, made at start (``KeyService.ensure_default``)
with the same lifecycle as any other; it issues the ``okta.authorizationServers.*``
scopes, and only to clients granted them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from keyrotor import client_jwks, proofs, tokens
from keyrotor.apitokens import ALL_SCOPES
from keyrotor.audit import CLI, Actor
from keyrotor.cache import Cache, route
from keyrotor.client_jwk_service import ClientJwkService
from keyrotor.client_keys import ClientKeys
from keyrotor.client_secrets import HASH_PURPOSE, ClientSecret, SecretStatus
from keyrotor.clients import (
    AuthMethod,
    ClientSpec,
    OAuthClient,
    check_org_scopes,
    new_client,
    new_client_secret,
)
from keyrotor.config import DEFAULT_CLOCK_SKEW
from keyrotor.errors import (
    InvalidClient,
    InvalidDpopProof,
    InvalidRequest,
    KeyrotorError,
    NotFound,
    OAuthError,
    UseDpopNonce,
    ValidationFailed,
)
from keyrotor.grants import Grant, new_grant_id
from keyrotor.keys import SigningKey
from keyrotor.scopes import Scope, ScopeSpec
from keyrotor.secret_service import ClientSecretService
from keyrotor.servers import ORG_SERVER_ID, AuthorizationServer
from keyrotor.service import SERVER_TYPE, KeyService
from keyrotor.snapshots import Jwks, Snapshot
from keyrotor.storage import Conflict, Transaction
from keyrotor.tokens import IssuedToken

CLIENT_TYPE = "OAuth2Client"
GRANT_TYPE = "OAuth2ScopeConsentGrant"
SCOPE_TYPE = "OAuth2Scope"
BAD_CLIENT = (
    "Client authentication failed. Either the client or the client credentials are invalid."
)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A token request as the HTTP layer read it.

    ``server_id`` is ``None`` for the org server. ``problem`` is what was wrong with the
    request itself (form, grant type, client authentication), raised after the server is
    found, as Okta does.
    """

    server_id: str | None
    issuer: str
    client_id: str = ""
    credential: str = ""  # the secret, or the client assertion (private_key_jwt)
    method: AuthMethod = AuthMethod.BASIC
    scope: str | None = None
    problem: OAuthError | None = None
    dpop: str | None = None  # the DPoP header, if sent

    @property
    def token_url(self) -> str:
        """This token endpoint's URL: the ``aud`` of assertions, the ``htu`` of proofs."""
        return self.issuer + ("/v1/token" if self.server_id is not None else "/oauth2/v1/token")


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
        self._clients: Cache[OAuthClient] = Cache(max_entries=10_000)
        self.store.feed.subscribe(lambda subjects: route(subjects, "c:", self._clients))
        self.client_keys = ClientKeys()
        self.jwks = ClientJwkService(self.store, self.clock)  # a client's public keys
        self.nonces = proofs.Nonces(keys.factory.derive("keyrotor dpop nonces").reveal())
        hash_key = keys.factory.derive(HASH_PURPOSE).reveal()
        self.secrets = ClientSecretService(self.store, self.clock, hash_key)  # its secrets

    # -- clients ---------------------------------------------------------------------

    def register_client(
        self, spec: ClientSpec, granted_by: str = "cli", actor: Actor = CLI
    ) -> tuple[OAuthClient, str | None]:
        """A new client and its secret (``None`` for ``private_key_jwt``): returned once,
        stored only as a digest. ``spec.org_scopes`` are granted in the same transaction,
        and the keys of its ``jwks`` stored ACTIVE (``client_jwks``)."""
        secret = new_client_secret() if spec.auth_method.uses_secret else None
        metadata, jwks = client_jwks.split_jwks(spec.metadata)
        client = new_client(dataclasses.replace(spec, metadata=metadata), self.clock())
        keys = client_jwks.replace_set(client.client_id, (), jwks, client.created)
        client = dataclasses.replace(client, keys=keys.applied(()))
        with self.store.transaction(write=True) as tx:
            tx.insert_client(client)
            if secret is not None:  # its first secret (client_secrets), ACTIVE
                made = self.secrets.add(
                    tx, client.client_id, secret, SecretStatus.ACTIVE, actor, client.created
                )
                client = dataclasses.replace(client, secrets=(made,))
            for key in keys.added:
                tx.insert_client_jwk(key)
            for event in client_jwks.change_events(keys, actor, client.created):
                tx.record_event(event)
            for scope in client.org_scopes:
                tx.insert_grant(
                    Grant(new_grant_id(), client.client_id, scope, "", client.created, granted_by)
                )
        return client, secret

    def replace_client(
        self, client_id: str, spec: ClientSpec, actor: Actor = CLI
    ) -> tuple[OAuthClient, str | None]:
        """The client with ``spec`` (id, creation time and grants kept). A client that
        starts using a secret gets a new one, answered once; its secrets are kept otherwise
        (``_secrets_for``).
        Its ``jwks`` is the set of ACTIVE keys wanted (``client_jwks.replace_set``)."""
        metadata, jwks = client_jwks.split_jwks(spec.metadata)
        spec = dataclasses.replace(spec, metadata=metadata)
        now = self.clock()
        with self.store.transaction(write=True) as tx:
            stored = tx.list_client_jwks(client_id, lock=True)
            keys = client_jwks.replace_set(client_id, stored, jwks, now)
            current = tx.get_client(client_id)
            if current is None:
                raise NotFound(client_id, CLIENT_TYPE)
            secret, kept = self._secrets_for(tx, current, spec.auth_method, actor, now)
            client = dataclasses.replace(
                current.replaced(spec), keys=keys.applied(stored), secrets=kept
            )
            tx.update_client(client)
            for key in keys.deleted:
                tx.delete_client_jwk(client_id, key.id)
            for key in keys.activated:
                tx.update_client_jwk(key)
            for key in keys.added:
                tx.insert_client_jwk(key)
            for event in client_jwks.change_events(keys, actor, now):
                tx.record_event(event)
        return client, secret

    def new_secret(self, client_id: str, actor: Actor = CLI) -> tuple[OAuthClient, str]:
        """A new ACTIVE secret for a client that uses one, in place of all it had: the old
        ones stop working at once (``/api/v1/apps/{appId}/credentials/secrets`` is the way
        to switch without a gap)."""
        now = self.clock()
        with self.store.transaction(write=True) as tx:
            old = tx.list_client_secrets(client_id, lock=True)
            current = tx.get_client(client_id)
            if current is None:
                raise NotFound(client_id, CLIENT_TYPE)
            if not current.auth_method.uses_secret:
                raise InvalidRequest(
                    "The client authenticates with private_key_jwt: it has no secret."
                )
            secret, made = self._fresh_secret(tx, client_id, old, actor, now)
        return dataclasses.replace(current, secrets=(made,)), secret

    def _fresh_secret(
        self,
        tx: Transaction,
        client_id: str,
        old: Sequence[ClientSecret],
        actor: Actor,
        now: datetime,
    ) -> tuple[str, ClientSecret]:
        """One new ACTIVE secret in place of ``old`` (each removal recorded); its value."""
        for gone in old:
            self.secrets.remove(tx, gone, actor, now)
        secret = new_client_secret()
        return secret, self.secrets.add(tx, client_id, secret, SecretStatus.ACTIVE, actor, now)

    def _secrets_for(
        self,
        tx: Transaction,
        current: OAuthClient,
        method: AuthMethod,
        actor: Actor,
        now: datetime,
    ) -> tuple[str | None, tuple[ClientSecret, ...]]:
        """A replaced client's secrets: kept while it still uses secrets and has an ACTIVE
        one; all deleted when it moves to ``private_key_jwt``; a new one, answered once,
        when it starts using secrets (or had no ACTIVE one left)."""
        kept = current.secrets
        if not method.uses_secret:
            for gone in kept:
                self.secrets.remove(tx, gone, actor, now)
            return None, ()
        if any(s.active for s in kept):
            return None, kept
        secret, made = self._fresh_secret(tx, current.client_id, kept, actor, now)
        return secret, (made,)

    # -- app grants ------------------------------------------------------------------

    def list_grants(self, client_id: str) -> list[Grant]:
        with self.store.transaction() as tx:
            if tx.get_client(client_id) is None:
                raise NotFound(client_id, "App")
            return tx.list_grants(client_id)

    def get_grant(self, client_id: str, grant_id: str) -> Grant:
        found = next((g for g in self.list_grants(client_id) if g.id == grant_id), None)
        if found is None:
            raise NotFound(grant_id, GRANT_TYPE)
        return found

    def grant(self, client_id: str, scope_id: str, issuer: str, granted_by: str) -> Grant:
        """Grant an org-server scope to a client; a scope granted already is refused."""
        check_org_scopes((scope_id,))
        made = Grant(new_grant_id(), client_id, scope_id, issuer, self.clock(), granted_by)
        try:
            with self.store.transaction(write=True) as tx:
                client = tx.get_client(client_id)
                if client is None:
                    raise NotFound(client_id, "App")
                if scope_id in client.org_scopes:
                    raise _granted(scope_id)
                tx.insert_grant(made)
        except Conflict:
            raise _granted(scope_id) from None
        return made

    def revoke_grant(self, client_id: str, grant_id: str) -> None:
        """Tokens already issued with the scope stop opening the management API at once."""
        with self.store.transaction(write=True) as tx:
            if tx.get_client(client_id) is None:
                raise NotFound(client_id, "App")
            if not tx.delete_grant(client_id, grant_id):
                raise NotFound(grant_id, GRANT_TYPE)

    def get_client(self, client_id: str) -> OAuthClient:
        client = self.find_client(client_id)
        if client is None:
            raise NotFound(client_id, CLIENT_TYPE)
        return client

    def find_client(self, client_id: str) -> OAuthClient | None:
        """A registered client, from the cache when it can be trusted."""
        found = self._cached_client(client_id)
        if found is not None:
            return found
        ticket = self._clients.ticket()
        with self.store.transaction() as tx:
            found = tx.get_client(client_id)
        self._keep_client(found, ticket)
        return found

    def _cached_client(self, client_id: str) -> OAuthClient | None:
        if not client_id or not self.store.feed.live:
            return None
        return self._clients.peek(client_id, self.clock())

    def _keep_client(self, client: OAuthClient | None, ticket: int) -> None:
        if client is not None and self.store.feed.live:
            self.client_keys.prime(client)  # parsed now, not while a token request waits
            self._clients.put(client.client_id, client, ticket)

    def list_clients(self) -> list[OAuthClient]:
        with self.store.transaction() as tx:
            return tx.list_clients()

    def delete_client(self, client_id: str) -> None:
        with self.store.transaction(write=True) as tx:
            if not tx.delete_client(client_id):
                raise NotFound(client_id, CLIENT_TYPE)

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

    # -- tokens ----------------------------------------------------------------------

    def token_snapshot(self, server_id: str) -> Snapshot:
        """A custom server that issues tokens: ACTIVE, not the org server; else not found."""
        if server_id == ORG_SERVER_ID:
            raise NotFound(server_id, SERVER_TYPE)
        found = self.keys.snapshot(server_id)
        if not found.server.is_active:
            raise NotFound(server_id, SERVER_TYPE)
        return found

    def issue(self, request: TokenRequest) -> IssuedToken:
        """An access token, for scopes the server defines (the org server: scopes granted
        to the client), signed with the server's ACTIVE key: one read transaction at most."""
        server_id = _issuing(request)
        if server_id is None:
            raise NotFound(ORG_SERVER_ID, SERVER_TYPE)
        ticket = self._clients.ticket()
        found = self.keys.peek(server_id)
        client = self._cached_client(request.client_id)
        if client is None:
            if found is None:  # server and client in one read
                found, client = self.keys.snapshot_with(
                    server_id, lambda tx: tx.get_client(request.client_id)
                )
                self._keep_client(client, ticket)
            else:  # the client alone
                client = self.find_client(request.client_id)
        elif found is None:  # the server alone, one fill for all who missed it together
            found = self.keys.snapshot(server_id)
        return self._issue(request, found, client)

    def issue_cached(self, request: TokenRequest) -> IssuedToken | None:
        """``issue`` from the caches alone; ``None`` when the store must be read or written
        (a client assertion's or a DPoP proof's ``jti`` is recorded in the store)."""
        server_id = _issuing(request)
        if server_id is None or request.method is AuthMethod.PRIVATE_KEY_JWT:
            return None
        found = self.keys.peek(server_id)
        client = self._cached_client(request.client_id)
        if found is None or client is None or client.dpop_bound:
            return None
        return self._issue(request, found, client)

    def _issue(
        self, request: TokenRequest, found: Snapshot, client: OAuthClient | None
    ) -> IssuedToken:
        custom = request.server_id is not None
        if custom and not found.server.is_active:
            raise NotFound(found.server.id, SERVER_TYPE)
        if request.problem is not None:
            raise request.problem
        client, used = self._authenticated(client, request)
        requested = tokens.requested_scopes(request.scope)
        if custom:
            tokens.check_allowed(requested, found.scope_names)
            aud = tokens.audience(found.server.audiences)
        else:
            tokens.check_allowed(requested, [s for s in ALL_SCOPES if client.granted_org_scope(s)])
            aud = request.issuer
        proof = self._dpop_proof(client, request)
        if proof is not None:
            used.append((f"dpop:{proof.jkt}", proof))
        self._record(used)
        if proof is not None and not self.nonces.valid(proof.nonce, self.clock()):
            raise UseDpopNonce(self.nonces.current(self.clock()))
        jkt = proof.jkt if proof is not None else None
        signed = self._mint(found.active, client, requested, request.issuer, aud, jkt)
        return _encrypted(signed, found)

    def _authenticated(
        self, client: OAuthClient | None, request: TokenRequest
    ) -> tuple[OAuthClient, list[tuple[str, proofs.Verified]]]:
        """The client, if its secret or assertion is right and sent the way it registered;
        with the JWT ids to record (an assertion's)."""
        basic = request.method is AuthMethod.BASIC
        if client is None:
            raise InvalidClient(BAD_CLIENT, basic=basic)
        if request.method is AuthMethod.PRIVATE_KEY_JWT:
            if client.auth_method is not AuthMethod.PRIVATE_KEY_JWT:
                raise _wrong_method(client, basic)
            return client, [(client.client_id, self._assertion(client, request))]
        if not client.secret_matches(request.credential):
            raise InvalidClient(BAD_CLIENT, basic=basic)
        if client.auth_method is not request.method:
            raise _wrong_method(client, basic)
        return client, []

    def _assertion(self, client: OAuthClient, request: TokenRequest) -> proofs.Verified:
        """Check a client assertion with the client's keys; an unknown key makes a client
        with a ``jwks_uri`` fetch its keys again (rate-limited by ``ClientKeys``)."""
        check = functools.partial(
            proofs.verify_assertion,
            request.credential,
            client_id=client.client_id,
            audience=request.token_url,
            now=self.clock(),
            skew=self.clock_skew,
        )
        try:
            return check(self.client_keys.keys(client))
        except proofs.UnknownKey:
            if client.jwks_uri is None:
                raise
            return check(self.client_keys.keys(client, refresh=True))

    def _dpop_proof(self, client: OAuthClient, request: TokenRequest) -> proofs.Proof | None:
        """The checked DPoP proof of a client whose tokens are DPoP-bound. Other clients
        get Bearer tokens, with a proof or without (as Okta does)."""
        if not client.dpop_bound:
            return None
        if not request.dpop:
            raise InvalidDpopProof("DPoP proof JWT header is missing.")
        return proofs.verify_proof(
            request.dpop,
            method="POST",
            url=request.token_url,
            now=self.clock(),
            skew=self.clock_skew,
        )

    def _record(self, used: list[tuple[str, proofs.Verified]]) -> None:
        """Record JWT ids in one write transaction; one already recorded is a replay."""
        if not used:
            return
        with self.store.transaction(write=True) as tx:
            for issuer, verified in used:
                if not tx.use_jti(issuer, verified.jti, verified.expires):
                    if issuer.startswith("dpop:"):
                        raise InvalidDpopProof("The DPoP proof has already been used.")
                    raise InvalidClient("The client_assertion token has already been used.")

    def org_jwks(self) -> Jwks:
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
        jkt: str | None = None,
    ) -> IssuedToken:
        claims = tokens.claims(
            issuer=iss,
            aud=aud,
            client_id=client.client_id,
            scopes=scopes,
            now=self.clock(),
            lifetime=self.token_lifetime,
            jkt=jkt,
        )
        signed = self.keys.factory.sign(key.sealed_private, key.kid, claims, key.server_id)
        self.keys.metrics.token_issued(key.server_id, key.kid)
        kind = "DPoP" if jkt else tokens.TOKEN_TYPE
        return IssuedToken(signed, int(self.token_lifetime.total_seconds()), tuple(scopes), kind)

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


def _encrypted(issued: IssuedToken, found: Snapshot) -> IssuedToken:
    """The token nested in a JWE for the server's ACTIVE encryption key, when the server
    encrypts its access tokens (``accessTokenEncryptedResponseAlgorithm``); else as it is."""
    if found.server.encryption_alg is None:
        return issued
    if found.encrypter is None:  # the rules never let it happen: refuse rather than send a JWS
        raise KeyrotorError("Access token encryption is on but no encryption key is ACTIVE.")
    return dataclasses.replace(issued, access_token=found.encrypter.encrypt(issued.access_token))


def _issuing(request: TokenRequest) -> str | None:
    """The server that issues the token (the org server for ``/oauth2/v1/token``), or
    ``None`` when the path names the org server, which is not found under an id."""
    if request.server_id is None:
        return ORG_SERVER_ID
    return None if request.server_id == ORG_SERVER_ID else request.server_id


def _wrong_method(client: OAuthClient, basic: bool) -> InvalidClient:
    return InvalidClient(
        f"The client is registered to authenticate with {client.auth_method.value}.",
        basic=basic,
    )


def _granted(scope_id: str) -> ValidationFailed:
    return ValidationFailed(
        "OAuth2ScopeConsentGrant", f"scopeId: {scope_id} is already granted to this app."
    )


def _duplicate(name: str) -> ValidationFailed:
    return ValidationFailed(
        "scope", f"name: A scope named '{name}' already exists on this authorization server."
    )
