"""Use cases of API tokens: create, authenticate, list, get, revoke, and their last use.

Each change is one write transaction that names the subject ``t``: every process drops its
cached tokens when it hears of it (``keyrotor.cache``), so a revoked token is refused
everywhere as soon as the change feed delivers it. A cached token is kept only until it
expires, so an expired token is never answered from the cache either.

Last use is recorded without a write per request: an authentication notes the moment in
memory, and ``flush_uses`` (called by the server's sweeper) writes what was noted in one
transaction, each token at most once per ``USE_PRECISION`` per process. That write names
no subject: a token's last use changes nothing that authentication reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

from keyrotor import audit
from keyrotor.apitokens import (
    ALL_SCOPES,
    FIRST_TOKEN_ID,
    ApiToken,
    new_token,
    new_token_value,
)
from keyrotor.audit import SYSTEM, Actor
from keyrotor.cache import EVERYTHING, Cache
from keyrotor.clock import Clock
from keyrotor.crypto import token_digest
from keyrotor.errors import NotFound, ValidationFailed
from keyrotor.storage import Conflict, Store

TOKEN_TYPE = "ApiToken"
USE_PRECISION = timedelta(minutes=1)  # how stale a token's recorded last use may be
MAX_NAME = 255


class ApiTokenService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._cache: Cache[ApiToken] = Cache(max_entries=10_000)  # by digest
        self._uses: dict[str, datetime] = {}  # token id -> last use noted, not yet written
        self._written: dict[str, datetime] = {}  # token id -> last use this process wrote
        store.feed.subscribe(self._changed)

    def _changed(self, subjects: list[str]) -> None:
        if "t" in subjects or EVERYTHING in subjects:
            self._cache.clear()

    # -- changes: one write transaction each ---------------------------------------------

    def create(
        self,
        name: str,
        scopes: Sequence[str],
        value: str | None = None,
        expires: datetime | None = None,
        actor: Actor = SYSTEM,
    ) -> tuple[ApiToken, str]:
        """A new token; its value is returned once and only its digest is stored (and its
        creation by ``actor`` recorded, ``keyrotor.audit``).

        With a ``value`` that is already registered (the bootstrap token, given again at
        each start), nothing is written and the stored token is answered, revoked or not.
        """
        now = self.clock()
        _check_name(name)
        if expires is not None and expires <= now:
            raise ValidationFailed("apiToken", "expiresAt: the expiry must be in the future")
        value = value or new_token_value()
        token = new_token(name, tuple(scopes), now, value, expires=expires)
        # a Conflict: another replica registered the same value at this instant (bootstrap)
        with contextlib.suppress(Conflict), self.store.transaction(write=True) as tx:
            found = tx.find_token(token.digest)
            if found is None:
                tx.insert_token(token)
                tx.record_event(audit.token_created(token, actor, now))
            else:
                token = found
        return token, value

    def create_first(self) -> str | None:
        """The admin token of a new store (both scopes), or ``None`` if the store ever had a
        token (revoked and expired ones count: revoking every token does not make a new
        admin token appear at the next start; ``keyrotor tokens create`` does).

        Replicas starting together on a new database race here; the token's fixed id makes
        the database pick one winner, so only one token is ever made and printed.
        """
        value = new_token_value()
        token = new_token("admin", ALL_SCOPES, self.clock(), value, token_id=FIRST_TOKEN_ID)
        try:
            with self.store.transaction(write=True) as tx:
                if tx.list_tokens():
                    return None
                tx.insert_token(token)
                tx.record_event(audit.token_created(token, SYSTEM, token.created))
        except Conflict:
            return None
        return value

    def revoke(self, token_id: str, actor: Actor = SYSTEM) -> ApiToken:
        """Revoke an active token; ``NotFound`` for an unknown, revoked or expired one."""
        now = self.clock()
        with self.store.transaction(write=True) as tx:
            found = tx.get_token(token_id)
            if found is None or not found.active(now) or not tx.revoke_token(token_id, now):
                raise NotFound(token_id, TOKEN_TYPE)
            tx.record_event(audit.token_revoked(found, actor, now))
        return dataclasses.replace(found, revoked=now)

    # -- reads -----------------------------------------------------------------------------

    def cached(self, value: str, now: datetime | None = None) -> ApiToken | None:
        """The active token with this value if it is cached (never blocks)."""
        if not value or not self.store.feed.live:
            return None
        now = now or self.clock()
        found = self._cache.peek(token_digest(value), now)
        if found is not None:
            self._uses[found.id] = now
        return found

    def authenticate(self, value: str) -> ApiToken | None:
        """The active token with this value: cached, else read (and then cached until it
        expires); ``None`` for an unknown, revoked or expired one."""
        if not value:
            return None
        now = self.clock()
        digest = token_digest(value)
        found = self._cache.peek(digest, now) if self.store.feed.live else None
        if found is None:
            ticket = self._cache.ticket()
            with self.store.transaction() as tx:
                found = tx.find_token(digest)
            if found is None or not found.active(now):
                return None
            if self.store.feed.live:
                self._cache.put(digest, found, ticket, found.expires)
        self._uses[found.id] = now
        return found

    def list_active(self) -> list[ApiToken]:
        """The active tokens, oldest first."""
        now = self.clock()
        with self.store.transaction() as tx:
            found = tx.list_tokens()
        return [t for t in found if t.active(now)]

    def get(self, token_id: str) -> ApiToken:
        """An active token by id; ``NotFound`` for an unknown, revoked or expired one."""
        with self.store.transaction() as tx:
            found = tx.get_token(token_id)
        if found is None or not found.active(self.clock()):
            raise NotFound(token_id, TOKEN_TYPE)
        return found

    # -- last use --------------------------------------------------------------------------

    def flush_uses(self) -> int:
        """Write the uses noted since the last flush (one transaction); answers how many
        tokens' last use was written. A failed write keeps them for the next flush."""
        noted, self._uses = self._uses, {}
        due = {
            token_id: at
            for token_id, at in noted.items()
            if token_id not in self._written or at - self._written[token_id] >= USE_PRECISION
        }
        if not due:
            return 0
        try:
            with self.store.transaction(write=True) as tx:
                tx.note_token_uses(due)
        except Exception:
            for token_id, at in due.items():
                self._uses.setdefault(token_id, at)
            raise
        self._written.update(due)
        return len(due)


def _check_name(name: str) -> None:
    if not name.strip():
        raise ValidationFailed("apiToken", "name: a token needs a name")
    if len(name) > MAX_NAME:
        raise ValidationFailed("apiToken", f"name: at most {MAX_NAME} characters")
    if any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in name):  # no store takes these
        raise ValidationFailed("apiToken", "name: no NUL character or unpaired surrogate")
