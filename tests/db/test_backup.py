"""``keyrotor db backup`` and ``keyrotor db restore``: the round trip on both stores (and
across them), what the file holds (sealed keys, never a key in the clear or the KEK), its
mode, and a backup taken without the KEK at hand."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from keyrotor.crypto import Sealer, decode_kek
from tests.db.conftest import HEAD, K1, cli, dump, fill, migrated, ok, served, verify

pytestmark = pytest.mark.postgres


def _empty(kind: str, new_store: Callable[[str], str]) -> str:
    url = new_store(kind)
    return migrated(url) if kind == "postgresql" else url  # a new SQLite file is made


@pytest.mark.parametrize(
    ("origin", "destination"),
    [
        ("sqlite", "sqlite"),
        ("postgresql", "postgresql"),
        ("sqlite", "postgresql"),
        ("postgresql", "sqlite"),
    ],
)
def test_backup_then_restore_gives_the_same_store(
    origin: str, destination: str, new_store: Callable[[str], str], tmp_path: Path
) -> None:
    source = fill(new_store(origin))
    env = {"KEYROTOR_KEK": K1} if origin == "postgresql" else {}  # SQLite: its .kek file
    file = tmp_path / "keyrotor.backup"
    before, jwks = dump(source.url), served(source.url)

    written = json.loads(
        ok(cli("db", "backup", "--to", str(file), "--database", source.url, "--json", **env))
    )
    target = _empty(destination, new_store)
    restored = json.loads(
        ok(
            cli(
                "db",
                "restore",
                "--from",
                str(file),
                "--database",
                target,
                "--json",
                KEYROTOR_KEK=K1,
            )
        )
    )

    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert dump(target) == before  # every row, the sealed keys byte for byte
    assert restored["rows"] == written["rows"] == {n: len(rows) for n, rows in before.items()}
    assert restored["keysOpened"] == written["keysOpened"] > 0
    assert served(target) == jwks
    for server, token in source.tokens.items():
        assert verify(token, jwks[server], source.audiences[server])


def test_the_file_holds_sealed_keys_only(new_store: Callable[[str], str], tmp_path: Path) -> None:
    source = fill(new_store("sqlite"))
    file = tmp_path / "keyrotor.backup"
    ok(cli("db", "backup", "--to", str(file), "--database", source.url))
    content = file.read_bytes()
    lines = [json.loads(line) for line in content.splitlines()]

    header, rows, end = lines[0], lines[1:-1], lines[-1]
    assert header["format"] == "keyrotor-backup" and header["version"] == 1
    assert header["schema"] == HEAD and sum(header["rows"].values()) == len(rows)
    assert end["end"]["rows"] == header["rows"] and len(end["end"]["sha256"]) == 64
    kek = decode_kek(K1).reveal()
    for secret in (K1.encode(), kek, base64.urlsafe_b64encode(kek).rstrip(b"=")):
        assert secret not in content  # never the KEK
    sealer = Sealer(decode_kek(K1))
    sealed = [r["row"] for r in rows if r["table"] in ("signing_keys", "key_pool")]
    assert len(sealed) == 11
    for row in sealed:
        raw = base64.b64decode(row["sealed_private"])
        pem = sealer.open(raw, row["kid"], row.get("server_id"))  # sealed as stored
        assert b"PRIVATE KEY" in pem
        body = b"".join(pem.splitlines()[1:-1])
        for part in (body[i : i + 32] for i in range(0, len(body) - 32, 32)):
            assert part not in content  # no piece of a private key in the clear
    assert b"PRIVATE KEY" not in content and b'"d":' not in content


def test_a_backup_needs_no_kek(new_store: Callable[[str], str], tmp_path: Path) -> None:
    """Backing up PostgreSQL without KEYROTOR_KEK works (the keys are not opened, and the
    summary says so); the restore then needs the KEK."""
    source = fill(new_store("postgresql"))
    file = tmp_path / "keyrotor.backup"

    out = ok(cli("db", "backup", "--to", str(file), "--database", source.url))

    assert out.splitlines()[0].startswith(f"Backed up {source.url} to {file} (schema {HEAD}): ")
    assert "not checked: no key-encryption key was given" in out.splitlines()[-1]
    target = _empty("postgresql", new_store)
    assert "keysOpened" in ok(
        cli("db", "restore", "--from", str(file), "--database", target, "--json", KEYROTOR_KEK=K1)
    )
    assert dump(target) == dump(source.url)
