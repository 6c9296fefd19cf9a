"""Client public keys with their own lifecycle (Okta's app credentials, jwks).

Each client's inline ``jwks`` moves out of ``oauth_clients.metadata`` into ``client_jwks``,
one ACTIVE row per key; the downgrade puts the ACTIVE keys back into the metadata (an
INACTIVE key has no place there and is dropped with the table).

Revision ID: 0009
Revises: 0008
"""

import json
import secrets
import string

import sqlalchemy as sa
from alembic import op

from keyrotor.storage.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BASE62 = string.ascii_letters + string.digits

_clients = sa.table(
    "oauth_clients",
    sa.column("client_id", sa.String),
    sa.column("created", UTCDateTime),
    sa.column("metadata", sa.Text),
)
_keys = sa.table(
    "client_jwks",
    sa.column("id", sa.String),
    sa.column("client_id", sa.String),
    sa.column("kid", sa.String),
    sa.column("status", sa.String),
    sa.column("jwk", sa.Text),
    sa.column("created", UTCDateTime),
    sa.column("last_updated", UTCDateTime),
)


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def upgrade() -> None:
    op.create_table(
        "client_jwks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("oauth_clients.client_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kid", sa.String(255)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("jwk", sa.Text, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("last_updated", UTCDateTime, nullable=False),
        sa.UniqueConstraint("client_id", "kid", name="ux_client_jwks_client_kid"),
    )
    op.create_index("ix_client_jwks_client", "client_jwks", ["client_id"])
    conn = op.get_bind()
    query = sa.select(_clients.c.client_id, _clients.c.created, _clients.c.metadata)
    for client_id, created, raw in conn.execute(query).all():
        metadata = json.loads(str(raw or "{}"))
        found = metadata.pop("jwks", None)
        if not isinstance(found, dict):
            continue
        keys = found.get("keys", [])
        # keys are listed by (created, id): ids in the order registered keep that order
        ids = sorted("pks" + "".join(secrets.choice(_BASE62) for _ in range(17)) for _ in keys)
        for key_id, jwk in zip(ids, keys, strict=True):
            kid = jwk.get("kid")
            conn.execute(
                _keys.insert().values(
                    id=key_id,
                    client_id=client_id,
                    kid=kid if isinstance(kid, str) else None,
                    status="ACTIVE",
                    jwk=_json(jwk),
                    created=created,
                    last_updated=created,
                )
            )
        conn.execute(
            _clients.update()
            .where(_clients.c.client_id == client_id)
            .values(metadata=_json(metadata))
        )


def downgrade() -> None:
    conn = op.get_bind()
    active: dict[str, list[object]] = {}
    query = (
        sa.select(_keys.c.client_id, _keys.c.jwk)
        .where(_keys.c.status == "ACTIVE")
        .order_by(_keys.c.created, _keys.c.id)
    )
    for client_id, jwk in conn.execute(query).all():
        active.setdefault(str(client_id), []).append(json.loads(str(jwk)))
    for client_id, found in active.items():
        raw: object = conn.execute(
            sa.select(_clients.c.metadata).where(_clients.c.client_id == client_id)
        ).scalar_one()
        metadata = json.loads(str(raw or "{}"))
        metadata["jwks"] = {"keys": found}
        conn.execute(
            _clients.update()
            .where(_clients.c.client_id == client_id)
            .values(metadata=_json(metadata))
        )
    op.drop_index("ix_client_jwks_client", "client_jwks")
    op.drop_table("client_jwks")
