"""Event hook use cases: register, replace, delete, activate, deactivate, verify; and the
two steps of delivery, fan-out and send (run by ``hook_worker.HookWorker``).

Each write is one store transaction with its audit record. ``verify`` cannot be one: it
reads the hook, asks the receiver outside any transaction (a request never holds a lock
while a remote host answers), then writes the outcome.

Fan-out turns the audit record into deliveries: each ACTIVE, VERIFIED hook keeps a cursor
over the record's positions (they follow the order of commits, so none is skipped) and
gets one ``Delivery`` per new event of a type it subscribed to, in the transaction that
moves its cursor. Send claims due deliveries with a lease, POSTs each (the URL checked
again, the connection pinned to the checked address) and writes the outcome: DELIVERED on
2xx, else a retry after the backoff, FAILED once the attempts run out.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from cryptography.exceptions import InvalidTag

from keyrotor import __version__, audit, targets
from keyrotor.audit import Actor, AuditEvent, EventQuery
from keyrotor.clock import Clock
from keyrotor.crypto import Sealer
from keyrotor.errors import NotFound, ValidationFailed
from keyrotor.hooks import (
    CHALLENGE_HEADER,
    HOOK_TYPE,
    PREFIX,
    SECRET_KID,
    Delivery,
    EventHook,
    HookSpec,
    HookStatus,
    RetryPolicy,
    Verification,
    hook_event,
    new_delivery,
    new_hook_id,
    payload,
)
from keyrotor.storage import Store

log = logging.getLogger("keyrotor.hooks")

FAN_OUT_BATCH = 500  # events read per hook per pass
SEND_BATCH = 10  # deliveries claimed at once
MAX_ANSWER = 64 * 1024  # bytes of a receiver's answer read
Render = Callable[[AuditEvent], Mapping[str, Any]]


@dataclass(frozen=True)
class HookOptions:
    """``loopback_ok``: ``serve --test-mode`` (loopback receivers allowed); ``timeout``:
    seconds per request; ``resolve``: the resolver the SSRF checks use."""

    loopback_ok: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 5.0
    resolve: targets.Resolver = targets.system_resolve


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


class HookService:
    def __init__(
        self, store: Store, sealer: Sealer, clock: Clock, options: HookOptions | None = None
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.clock = clock
        self.options = options or HookOptions()

    @staticmethod
    def subscribable() -> tuple[str, ...]:
        return audit.event_types()

    # -- management ----------------------------------------------------------------------

    def list_hooks(self) -> list[EventHook]:
        with self.store.transaction() as tx:
            return tx.list_hooks()

    def get(self, hook_id: str) -> EventHook:
        with self.store.transaction() as tx:
            return _found(tx.get_hook(hook_id), hook_id)

    def create(self, spec: HookSpec, actor: Actor) -> EventHook:
        self._check_target(spec.uri)
        if spec.auth_key and spec.auth_value is None:
            raise ValidationFailed("eventHook", "channel.config.authScheme.value: Give the value.")
        now, hook_id = self.clock(), new_hook_id()
        with self.store.transaction(write=True) as tx:
            hook = EventHook(
                id=hook_id,
                name=spec.name,
                description=spec.description,
                status=HookStatus.ACTIVE,
                verification=Verification.UNVERIFIED,
                events=spec.events,
                uri=spec.uri,
                headers=spec.headers,
                auth_key=spec.auth_key,
                sealed_secret=self._seal(hook_id, spec.auth_value),
                created=now,
                last_updated=now,
                created_by=actor.id,
                cursor=tx.last_event_position(),
            )
            tx.insert_hook(hook)
            tx.record_event(hook_event(audit.HOOK_CREATED, hook, actor, now))
        return hook

    def replace(self, hook_id: str, spec: HookSpec, actor: Actor) -> EventHook:
        """Everything a body sets; an authScheme without its value keeps the stored one
        (Okta never shows it, so a client cannot send it back). A new URL must be verified
        again."""
        self._check_target(spec.uri)
        with self.store.transaction(write=True) as tx:
            old = _found(tx.get_hook(hook_id, lock=True), hook_id)
            now = self.clock()
            sealed = self._seal(hook_id, spec.auth_value)
            if spec.auth_key and spec.auth_value is None:
                if old.sealed_secret is None:
                    raise ValidationFailed(
                        "eventHook", "channel.config.authScheme.value: Give the value."
                    )
                sealed = old.sealed_secret
            moved = spec.uri != old.uri
            hook = dataclasses.replace(
                old,
                name=spec.name,
                description=spec.description,
                events=spec.events,
                uri=spec.uri,
                headers=spec.headers,
                auth_key=spec.auth_key,
                sealed_secret=sealed,
                verification=Verification.UNVERIFIED if moved else old.verification,
                last_updated=now,
            )
            tx.update_hook(hook)
            tx.record_event(hook_event(audit.HOOK_UPDATED, hook, actor, now, previousUri=old.uri))
        return hook

    def delete(self, hook_id: str, actor: Actor) -> None:
        with self.store.transaction(write=True) as tx:
            hook = _found(tx.get_hook(hook_id, lock=True), hook_id)
            if hook.status is HookStatus.ACTIVE:
                raise ValidationFailed("eventHook", "Deactivate the event hook before deleting it.")
            tx.delete_hook(hook_id)
            tx.record_event(hook_event(audit.HOOK_DELETED, hook, actor, self.clock()))

    def set_status(self, hook_id: str, status: HookStatus, actor: Actor) -> EventHook:
        """Activate or deactivate; an activated hook hears of events from now on, not of
        those recorded while it was inactive."""
        with self.store.transaction(write=True) as tx:
            hook = _found(tx.get_hook(hook_id, lock=True), hook_id)
            if hook.status is status:
                return hook
            now = self.clock()
            hook = dataclasses.replace(hook, status=status, last_updated=now)
            if status is HookStatus.ACTIVE:
                hook = dataclasses.replace(hook, cursor=tx.last_event_position())
            tx.update_hook(hook)
            kind = audit.HOOK_ACTIVATED if status is HookStatus.ACTIVE else audit.HOOK_DEACTIVATED
            tx.record_event(hook_event(kind, hook, actor, now))
        return hook

    def verify(self, hook_id: str, actor: Actor) -> EventHook:
        """Okta's verification: a GET with ``X-Okta-Verification-Challenge``, answered
        with ``{"verification": <the challenge>}``. Refused (400) when it is not."""
        hook = self.get(hook_id)
        challenge = secrets.token_urlsafe(32)
        try:
            target = targets.check(
                hook.uri, loopback_ok=self.options.loopback_ok, resolve=self.options.resolve
            )
            answer = self._send(hook, target, "GET", {CHALLENGE_HEADER: challenge}, None)
        except (targets.TargetRefused, SecretUnopened, httpx.HTTPError) as exc:
            raise _unverified(_why(exc)) from None
        if not 200 <= answer.status < 300:
            raise _unverified(f"the receiver answered HTTP {answer.status}")
        try:
            said = json.loads(answer.body).get("verification")
        except (ValueError, AttributeError):
            said = None
        if said != challenge:
            raise _unverified('the answer was not {"verification": <the challenge>}')
        with self.store.transaction(write=True) as tx:
            hook = _found(tx.get_hook(hook_id, lock=True), hook_id)
            now = self.clock()
            if hook.verification is not Verification.VERIFIED:
                hook = dataclasses.replace(
                    hook,
                    verification=Verification.VERIFIED,
                    cursor=tx.last_event_position(),
                    last_updated=now,
                )
                tx.update_hook(hook)
            tx.record_event(hook_event(audit.HOOK_VERIFIED, hook, actor, now))
        return hook

    def deliveries(
        self, hook_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        with self.store.transaction() as tx:
            return tx.list_deliveries(hook_id, status, limit)

    # -- delivery ----------------------------------------------------------------------

    def fan_out(self, render: Render) -> int:
        """New events of the record → deliveries, for each hook that receives; answers
        how many deliveries were made. A read first: no write while nothing is new."""
        with self.store.transaction() as tx:
            last = tx.last_event_position()
            behind = any(h.receives and h.cursor < last for h in tx.list_hooks())
        if not behind:
            return 0
        made = 0
        with self.store.transaction(write=True) as tx:
            for hook in tx.lock_receiving_hooks():
                rows = tx.list_events(EventQuery(after=hook.cursor, limit=FAN_OUT_BATCH))
                if not rows:
                    continue
                wanted = set(hook.events)
                found = [
                    new_delivery(hook.id, seq, event, json.dumps(dict(render(event))))
                    for seq, event in rows
                    if event.event_type in wanted
                ]
                tx.insert_deliveries(found)
                tx.update_hook(dataclasses.replace(hook, cursor=rows[-1][0]))
                made += len(found)
        return made

    def send_due(self, base: str) -> int:
        """Claim the deliveries due now and send each; answers how many were tried.
        ``base`` is the public URL the payload's ``source`` names."""
        now = self.clock()
        lease = now + timedelta(seconds=SEND_BATCH * self.options.timeout + 30)
        with self.store.transaction(write=True) as tx:
            claimed = tx.claim_deliveries(now, lease, SEND_BATCH)
            hooks = {d.hook_id: tx.get_hook(d.hook_id) for d in claimed}
        for delivery in claimed:
            done = self._attempt(hooks.get(delivery.hook_id), delivery, base)
            with self.store.transaction(write=True) as tx:
                tx.update_delivery(done)
        return len(claimed)

    def _attempt(self, hook: EventHook | None, delivery: Delivery, base: str) -> Delivery:
        retry = self.options.retry
        if hook is None or not hook.receives:
            gone = dataclasses.replace(retry, max_attempts=delivery.attempts + 1)
            why = "the hook is no longer ACTIVE and VERIFIED"
            return gone.after_failure(delivery, self.clock(), None, why)
        body = json.dumps(payload(delivery, f"{base}{PREFIX}/{hook.id}")).encode()
        try:
            target = targets.check(
                hook.uri, loopback_ok=self.options.loopback_ok, resolve=self.options.resolve
            )
            answer = self._send(hook, target, "POST", {}, body)
        except (targets.TargetRefused, SecretUnopened, httpx.HTTPError) as exc:
            log.warning("event hook %s: delivery %s failed: %s", hook.id, delivery.id, _why(exc))
            return retry.after_failure(delivery, self.clock(), None, _why(exc))
        if 200 <= answer.status < 300:
            return retry.delivered(delivery, self.clock(), answer.status)
        log.warning("event hook %s: delivery %s got HTTP %d", hook.id, delivery.id, answer.status)
        return retry.after_failure(delivery, self.clock(), answer.status, f"HTTP {answer.status}")

    # -- internals -----------------------------------------------------------------------

    def _check_target(self, uri: str) -> None:
        try:
            targets.check(uri, loopback_ok=self.options.loopback_ok, resolve=self.options.resolve)
        except targets.TargetRefused as exc:
            raise ValidationFailed("eventHook", f"channel.config.uri: {exc}") from None

    def _seal(self, hook_id: str, value: str | None) -> bytes | None:
        if value is None:
            return None
        return self.sealer.seal(value.encode(), SECRET_KID, hook_id)

    def _send(
        self,
        hook: EventHook,
        target: targets.Target,
        method: str,
        extra: dict[str, str],
        body: bytes | None,
    ) -> Answer:
        """One request to the checked address, named by its host (``Host``, TLS SNI and
        certificate check): no redirect followed, no proxy from the environment."""
        headers = {
            **dict(hook.headers),
            "Host": target.host_header,
            "Accept": "application/json",
            "User-Agent": f"keyrotor/{__version__}",
            **extra,
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        if hook.auth_key and hook.sealed_secret is not None:
            try:
                opened = self.sealer.open(hook.sealed_secret, SECRET_KID, hook.id)
            except (InvalidTag, ValueError):
                raise SecretUnopened() from None
            headers[hook.auth_key] = opened.decode()
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        with httpx.Client(
            timeout=self.options.timeout, follow_redirects=False, trust_env=False
        ) as client:
            request = client.build_request(
                method, target.pinned_url, headers=headers, content=body, extensions=extensions
            )
            response = client.send(request, stream=True)
            try:
                read = bytearray()
                for chunk in response.iter_bytes():
                    read.extend(chunk)
                    if len(read) >= MAX_ANSWER:
                        break
                return Answer(response.status_code, bytes(read[:MAX_ANSWER]))
            finally:
                response.close()


class SecretUnopened(Exception):
    """No KEK of this replica opens the hook's shared secret (removed before ``keyrotor kek
    rewrap`` re-sealed it: give the hook its secret again)."""

    def __str__(self) -> str:
        return "no key-encryption key of this replica opens the hook's shared secret"


def _found(hook: EventHook | None, hook_id: str) -> EventHook:
    if hook is None:
        raise NotFound(hook_id, HOOK_TYPE)
    return hook


def _unverified(why: str) -> ValidationFailed:
    return ValidationFailed("verifyEventHook", f"Event hook verification failed: {why}.")


def _why(exc: Exception) -> str:
    """What went wrong, in words that hold no header value (httpx names the URL only)."""
    if isinstance(exc, targets.TargetRefused | SecretUnopened):
        return str(exc)
    return f"{type(exc).__name__}: {str(exc)[:200]}"
