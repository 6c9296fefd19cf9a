"""Settings: one frozen value object, built once at the edge (the CLI) and passed down."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import sqlite3
import stat
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from keyrotor.crypto import DEFAULT_KEY_SIZE, Secret, decode_kek, encode_kek, new_kek
from keyrotor.lifecycle import RotationPolicy

DEFAULT_DATABASE_URL = "sqlite:///keyrotor.db"
DEFAULT_TOKEN_LIFETIME = timedelta(hours=1)
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)
DEFAULT_RATE_LIMIT = 600  # requests per token per minute
DEFAULT_TOKEN_RATE_LIMIT = 1200  # token requests per client per minute
DEFAULT_PUBLIC_RATE_LIMIT = 6000  # unauthenticated requests per IP address per minute
DEFAULT_JWKS_MAX_AGE = 3600  # seconds, an upper bound; never past the next key change
DEFAULT_SWEEP_INTERVAL = 60.0  # seconds between background AUTO-rotation sweeps
MAX_BODY_BYTES = 64 * 1024
DEFAULT_ROTATION_NOTICE = timedelta(days=7)  # the warning before an AUTO rotation
DEFAULT_HOOK_RETRY_BASE = timedelta(seconds=30)  # event hook retries: 30 s, 60 s, … 1 h
DEFAULT_HOOK_MAX_ATTEMPTS = 10


class ConfigError(ValueError):
    """A setting that keyrotor refuses to start with."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    kek: Secret = field(default_factory=new_kek, repr=False)  # seals new keys, and opens
    old_keks: tuple[Secret, ...] = field(default=(), repr=False)  # only open
    kek_source: str = "the settings"  # where the KEKs came from, for refusals
    policy: RotationPolicy = field(default_factory=RotationPolicy)
    token_lifetime: timedelta = DEFAULT_TOKEN_LIFETIME
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW
    rate_limit: int = DEFAULT_RATE_LIMIT
    token_rate_limit: int = DEFAULT_TOKEN_RATE_LIMIT
    public_rate_limit: int = DEFAULT_PUBLIC_RATE_LIMIT
    jwks_max_age: int = DEFAULT_JWKS_MAX_AGE
    sweep_interval: float = DEFAULT_SWEEP_INTERVAL
    public_url: str | None = None
    key_size: int = DEFAULT_KEY_SIZE
    key_pool_size: int = 0  # pre-generated keys kept in the store (`serve` sets its default)
    allowed_hosts: tuple[str, ...] = ()  # Host names answered besides loopback and public_url
    # event hooks (keyrotor.hooks) and the notice before an AUTO rotation (keyrotor.notices)
    rotation_notice: timedelta | None = DEFAULT_ROTATION_NOTICE  # None: no notice
    hook_retry_base: timedelta = DEFAULT_HOOK_RETRY_BASE  # the first wait; doubles, capped
    hook_max_attempts: int = DEFAULT_HOOK_MAX_ATTEMPTS  # then a delivery is FAILED

    def __post_init__(self) -> None:
        needed = self.token_lifetime + self.clock_skew
        if self.policy.retention < needed:
            raise ConfigError(
                f"key retention {self.policy.retention} is shorter than the token lifetime plus "
                f"clock skew ({needed}): tokens signed by a key that just expired would stop "
                "verifying before they run out"
            )
        if self.policy.period <= needed:
            raise ConfigError("the rotation period must be longer than token lifetime plus skew")
        lead = self.policy.next_lead
        if lead is not None and not (
            timedelta(seconds=self.jwks_max_age) <= lead < self.policy.period
        ):
            raise ConfigError(
                "the NEXT key lead time must be at least the JWKS max-age (so every verifier "
                "has the key before it signs) and shorter than the rotation period"
            )
        notice = self.rotation_notice
        if notice is not None and notice < timedelta(0):
            raise ConfigError("the rotation notice cannot be negative")
        if self.hook_retry_base <= timedelta(0) or self.hook_max_attempts < 1:
            raise ConfigError("event hook retries need a positive wait and at least one attempt")
        if self.key_pool_size < 0:
            raise ConfigError("the key pool size cannot be negative")
        if min(self.rate_limit, self.token_rate_limit, self.public_rate_limit) < 1:
            raise ConfigError("a rate limit must be at least 1 request a minute")

    @property
    def keks(self) -> tuple[Secret, ...]:
        return (self.kek, *self.old_keks)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


KEK_ENV = "KEYROTOR_KEK"
KEK_FILE_ENV = "KEYROTOR_KEK_FILE"


@dataclass(frozen=True)
class Keks:
    """The key-encryption keys of a process (the first seals, every one opens) and where
    they came from: an environment variable's name or a file's path."""

    keks: tuple[Secret, ...] = field(repr=False)
    source: str


def load_keks(database_url: str, env: dict[str, str] | None = None) -> Keks:
    """The key-encryption keys: ``KEYROTOR_KEK``, or the file ``KEYROTOR_KEK_FILE`` names,
    each holding one KEK (base64 of 32 bytes) or several, separated by commas or newlines.

    An embedded SQLite store also has a file of its own beside the database
    (``<database>.kek``, made on first use, 0600); a ``KEYROTOR_KEK``/``KEYROTOR_KEK_FILE``
    that differs from it is refused, and so is a store that holds keys without any KEK.
    A KEK file that group or others may read is refused.
    """
    env = dict(os.environ) if env is None else env
    if env.get(KEK_ENV) and env.get(KEK_FILE_ENV):
        raise ConfigError(f"both {KEK_ENV} and {KEK_FILE_ENV} are set: keep one of them")
    given: Keks | None = None
    if env.get(KEK_ENV):
        given = Keks(parse_keks(env[KEK_ENV], KEK_ENV), KEK_ENV)
    elif env.get(KEK_FILE_ENV):
        given = _read_kek_file(Path(env[KEK_FILE_ENV]))
    path = sqlite_path(database_url) if is_sqlite(database_url) else None
    if path is None:
        if given is None:
            raise ConfigError(
                f"set {KEK_ENV} (or {KEK_FILE_ENV}) to the key-encryption key that every "
                "replica shares; `keyrotor kek new` prints a fresh one"
            )
        return given
    beside = kek_file_beside(path)
    if given is None:
        return _kek_beside(path, beside)
    if beside.exists():
        own = _read_kek_file(beside)
        if [k.reveal() for k in own.keks] != [k.reveal() for k in given.keks]:
            variable = KEK_ENV if env.get(KEK_ENV) else KEK_FILE_ENV
            named = variable if given.source == variable else f"{variable} ({given.source})"
            raise ConfigError(
                f"the key-encryption key from {named} differs from {beside}, the key file of "
                f"this SQLite store: unset {variable} to use the file, or give both the same keys"
            )
    return given


def parse_keks(text: str, source: str) -> tuple[Secret, ...]:
    """One or more KEKs (base64 of 32 bytes each), separated by commas or whitespace."""
    parts = [part for part in re.split(r"[,\s]+", text) if part]
    if not parts:
        raise ConfigError(f"{source} holds no key-encryption key")
    keks = []
    for part in parts:
        try:
            kek = decode_kek(part)
        except ValueError:
            kek = Secret(b"")
        if len(kek.reveal()) != 32:
            raise ConfigError(
                f"{source} holds a value that is not a key-encryption key (base64 of 32 "
                "bytes; `keyrotor kek new` prints one)"
            )
        keks.append(kek)
    return tuple(keks)


def kek_file_beside(database: Path) -> Path:
    """The key file of an embedded SQLite store: ``<database>.kek``."""
    return database.absolute().with_name(database.name + ".kek")


def _read_kek_file(path: Path) -> Keks:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"the key-encryption key file {path} is open to group or others (mode "
                f"{mode:04o}): chmod 600 {shlex.quote(str(path))}"
            )
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the key-encryption key file {path}: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError:
        text = ""
    return Keks(parse_keks(text, str(path)), str(path))


def _kek_beside(database: Path, path: Path) -> Keks:
    """The store's own key file, made (0600, atomically) for a store without keys."""
    if path.exists():
        return _read_kek_file(path)
    if _holds_keys(database):
        raise ConfigError(
            f"{database.absolute()} holds keys but no key-encryption key was found (neither "
            f"{KEK_ENV}, {KEK_FILE_ENV} nor its key file {path}): give the KEK they were "
            "sealed with in one of them"
        )
    draft = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:  # no directory is made: a missing one is more likely a typo in the URL
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    except OSError as exc:
        why = f"the directory {path.parent} does not exist" if not path.parent.is_dir() else ""
        raise ConfigError(
            f"cannot create the key-encryption key file {path}: {why or exc.strerror or exc}"
        ) from None
    try:
        with os.fdopen(fd, "w") as out:
            out.write(encode_kek(new_kek()) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use it
            os.link(draft, path)
    finally:
        draft.unlink()
    return _read_kek_file(path)


def _holds_keys(database: Path) -> bool:
    """Whether an SQLite file already holds signing keys or pooled keys (read-only)."""
    if not database.is_file() or database.stat().st_size == 0:
        return False
    try:
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot read {database}: {exc}") from None
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        return any(
            conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None  # noqa: S608
            for table in ("signing_keys", "key_pool")
            if table in tables
        )
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot read {database}: {exc}") from None
    finally:
        conn.close()
