"""The OAuth rows (clients, scopes) of ``SqlTransaction``: SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import RowMapping

from keyrotor.clients import AuthMethod, OAuthClient
from keyrotor.scopes import Consent, MetadataPublish, Scope
from keyrotor.storage.tables import oauth_clients, oauth_scopes


class OAuthRows:
    """Mixed into ``SqlTransaction``; uses its connection ``_c``."""

    _c: Connection
    touched: set[str]

    def insert_client(self, client: OAuthClient) -> None:
        self.touched.add(f"c:{client.client_id}")
        self._c.execute(insert(oauth_clients).values(**_client_row(client)))

    def get_client(self, client_id: str) -> OAuthClient | None:
        query = select(oauth_clients).where(oauth_clients.c.client_id == client_id)
        row = self._c.execute(query).mappings().first()
        return _client(row) if row else None

    def list_clients(self) -> list[OAuthClient]:
        query = select(oauth_clients).order_by(oauth_clients.c.created, oauth_clients.c.client_id)
        return [_client(row) for row in self._c.execute(query).mappings()]

    def delete_client(self, client_id: str) -> bool:
        self.touched.add(f"c:{client_id}")
        query = delete(oauth_clients).where(oauth_clients.c.client_id == client_id)
        return self._c.execute(query).rowcount > 0

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
        "secret_digest": c.secret_digest,
        "auth_method": c.auth_method.value,
        "grant_types": " ".join(c.grant_types),
        "org_scopes": " ".join(c.org_scopes),
        "created": c.created,
    }


def _client(row: RowMapping) -> OAuthClient:
    return OAuthClient(
        client_id=row["client_id"],
        name=row["name"],
        secret_digest=row["secret_digest"],
        auth_method=AuthMethod(row["auth_method"]),
        grant_types=tuple(row["grant_types"].split()),
        created=row["created"],
        org_scopes=tuple(row["org_scopes"].split()),
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
    )
