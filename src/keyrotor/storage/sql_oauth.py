"""The OAuth rows (clients, their grants, scopes, used JWT ids) of ``SqlTransaction``:
SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping

from keyrotor.clients import AuthMethod, OAuthClient
from keyrotor.grants import Grant
from keyrotor.scopes import Consent, MetadataPublish, Scope
from keyrotor.storage.sql_client_jwks import ClientJwkRows
from keyrotor.storage.sql_client_secrets import ClientSecretRows
from keyrotor.storage.tables import app_grants, oauth_clients, oauth_scopes, used_jtis


class OAuthRows(ClientJwkRows, ClientSecretRows):
    """Mixed into ``SqlTransaction``; uses its connection ``_c``. A client is read with its
    keys (``ClientJwkRows``) and its secrets (``ClientSecretRows``)."""

    _c: Connection
    _postgres: bool
    touched: set[str]

    def insert_client(self, client: OAuthClient) -> None:
        self.touched.add(f"c:{client.client_id}")
        self._c.execute(insert(oauth_clients).values(**_client_row(client)))

    def update_client(self, client: OAuthClient) -> None:
        """Everything but the id, the creation time and the grants."""
        self.touched.add(f"c:{client.client_id}")
        query = update(oauth_clients).where(oauth_clients.c.client_id == client.client_id)
        self._c.execute(query.values(**_client_row(client)))

    def get_client(self, client_id: str) -> OAuthClient | None:
        query = select(oauth_clients).where(oauth_clients.c.client_id == client_id)
        row = self._c.execute(query).mappings().first()
        if row is None:
            return None
        client = _client(row, tuple(g.scope_id for g in self.list_grants(client_id)))
        return dataclasses.replace(
            client,
            keys=tuple(self.list_client_jwks(client_id)),
            secrets=tuple(self.list_client_secrets(client_id)),
        )

    def list_clients(self) -> list[OAuthClient]:
        granted: defaultdict[str, list[str]] = defaultdict(list)
        for grant in self._grants(select(app_grants)):
            granted[grant.client_id].append(grant.scope_id)
        query = select(oauth_clients).order_by(oauth_clients.c.created, oauth_clients.c.client_id)
        keys = self.every_client_jwk()
        secrets = self.every_client_secret()
        return [
            dataclasses.replace(
                _client(row, tuple(granted[row["client_id"]])),
                keys=tuple(keys.get(row["client_id"], ())),
                secrets=tuple(secrets.get(row["client_id"], ())),
            )
            for row in self._c.execute(query).mappings()
        ]

    def delete_client(self, client_id: str) -> bool:
        self.touched.add(f"c:{client_id}")
        self._c.execute(delete(app_grants).where(app_grants.c.client_id == client_id))
        query = delete(oauth_clients).where(oauth_clients.c.client_id == client_id)
        return self._c.execute(query).rowcount > 0

    def insert_grant(self, grant: Grant) -> None:
        self.touched.add(f"c:{grant.client_id}")
        self._c.execute(insert(app_grants).values(**dataclasses.asdict(grant)))

    def list_grants(self, client_id: str) -> list[Grant]:
        return self._grants(select(app_grants).where(app_grants.c.client_id == client_id))

    def delete_grant(self, client_id: str, grant_id: str) -> bool:
        self.touched.add(f"c:{client_id}")
        query = delete(app_grants).where(
            app_grants.c.client_id == client_id, app_grants.c.id == grant_id
        )
        return self._c.execute(query).rowcount > 0

    def _grants(self, query: Any) -> list[Grant]:
        ordered = query.order_by(app_grants.c.created, app_grants.c.id)
        return [Grant(**row) for row in self._c.execute(ordered).mappings()]

    def use_jti(self, issuer: str, jti: str, expires: datetime) -> bool:
        dialect: Any = postgresql if self._postgres else sqlite
        query = (
            dialect.insert(used_jtis)
            .values(issuer=issuer, jti=jti, expires=expires)
            .on_conflict_do_nothing()
            .returning(used_jtis.c.jti)  # psycopg's rowcount is -1 here: ask for the row
        )
        return self._c.execute(query).first() is not None

    def prune_jtis(self, now: datetime) -> int:
        return int(self._c.execute(delete(used_jtis).where(used_jtis.c.expires < now)).rowcount)

    def insert_scope(self, scope: Scope) -> None:
        self.touched.add(f"s:{scope.server_id}")
        self._c.execute(insert(oauth_scopes).values(**_scope_row(scope)))

    def update_scope(self, scope: Scope) -> None:
        self.touched.add(f"s:{scope.server_id}")
        query = update(oauth_scopes).where(oauth_scopes.c.id == scope.id)
        self._c.execute(query.values(**_scope_row(scope)))

    def get_scope(self, server_id: str, scope_id: str) -> Scope | None:
        query = select(oauth_scopes).where(
            oauth_scopes.c.id == scope_id, oauth_scopes.c.server_id == server_id
        )
        row = self._c.execute(query).mappings().first()
        return _scope(row) if row else None

    def list_scopes(self, server_id: str) -> list[Scope]:
        query = (
            select(oauth_scopes)
            .where(oauth_scopes.c.server_id == server_id)
            .order_by(oauth_scopes.c.created, oauth_scopes.c.id)
        )
        return [_scope(row) for row in self._c.execute(query).mappings()]

    def delete_scope(self, server_id: str, scope_id: str) -> bool:
        self.touched.add(f"s:{server_id}")
        query = delete(oauth_scopes).where(
            oauth_scopes.c.id == scope_id, oauth_scopes.c.server_id == server_id
        )
        return self._c.execute(query).rowcount > 0


def _client_row(c: OAuthClient) -> dict[str, Any]:
    return {
        "client_id": c.client_id,
        "name": c.name,
        "auth_method": c.auth_method.value,
        "grant_types": " ".join(c.grant_types),
        "created": c.created,
        "metadata": json.dumps(c.metadata, separators=(",", ":")),
    }


def _client(row: RowMapping, org_scopes: tuple[str, ...]) -> OAuthClient:
    return OAuthClient(
        client_id=row["client_id"],
        name=row["name"],
        auth_method=AuthMethod(row["auth_method"]),
        grant_types=tuple(row["grant_types"].split()),
        created=row["created"],
        org_scopes=org_scopes,
        metadata=json.loads(row["metadata"]),
    )


def _scope_row(s: Scope) -> dict[str, Any]:
    return {
        "id": s.id,
        "server_id": s.server_id,
        "name": s.name,
        "description": s.description,
        "consent": s.consent.value,
        "is_default": s.default,
        "metadata_publish": s.metadata_publish.value,
        "system": s.system,
        "created": s.created,
        "last_updated": s.last_updated,
        "display_name": s.display_name,
        "is_optional": s.optional,
    }


def _scope(row: RowMapping) -> Scope:
    return Scope(
        id=row["id"],
        server_id=row["server_id"],
        name=row["name"],
        description=row["description"],
        consent=Consent(row["consent"]),
        default=bool(row["is_default"]),
        metadata_publish=MetadataPublish(row["metadata_publish"]),
        created=row["created"],
        last_updated=row["last_updated"],
        system=bool(row["system"]),
        display_name=row["display_name"],
        optional=bool(row["is_optional"]),
    )
