"""Settings: one frozen value object, built once at the edge (the CLI) and passed down."""

from __future__ import annotations

import os
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
DEFAULT_JWKS_MAX_AGE = 3600  # seconds, an upper bound; never past the next key change
DEFAULT_SWEEP_INTERVAL = 60.0  # seconds between background AUTO-rotation sweeps
MAX_BODY_BYTES = 64 * 1024


class ConfigError(ValueError):
    """A setting that keyrotor refuses to start with."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    kek: Secret = field(default_factory=new_kek, repr=False)
    policy: RotationPolicy = field(default_factory=RotationPolicy)
    token_lifetime: timedelta = DEFAULT_TOKEN_LIFETIME
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW
    rate_limit: int = DEFAULT_RATE_LIMIT
    jwks_max_age: int = DEFAULT_JWKS_MAX_AGE
    sweep_interval: float = DEFAULT_SWEEP_INTERVAL
    public_url: str | None = None
    key_size: int = DEFAULT_KEY_SIZE
    key_pool_size: int = 0  # pre-generated keys kept in the store (`serve` sets its default)

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
        if self.key_pool_size < 0:
            raise ConfigError("the key pool size cannot be negative")
        if self.rate_limit < 1:
            raise ConfigError("the rate limit must be at least 1 request a minute")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def load_kek(database_url: str, env: dict[str, str] | None = None) -> Secret:
    """The key-encryption key: ``KEYROTOR_KEK`` (base64 of 32 bytes) or ``KEYROTOR_KEK_FILE``;
    for an embedded SQLite store without either, a file beside the database, made once (0600).
    """
    env = dict(os.environ) if env is None else env
    if env.get("KEYROTOR_KEK"):
        return decode_kek(env["KEYROTOR_KEK"])
    if env.get("KEYROTOR_KEK_FILE"):
        return decode_kek(Path(env["KEYROTOR_KEK_FILE"]).read_text())
    path = sqlite_path(database_url) if is_sqlite(database_url) else None
    if path is None:
        raise ConfigError(
            "set KEYROTOR_KEK (or KEYROTOR_KEK_FILE) to the key-encryption key that every "
            "replica shares; `keyrotor kek new` prints a fresh one"
        )
    return _kek_beside(path)


def _kek_beside(database: Path) -> Secret:
    path = database.with_name(database.name + ".kek")
    if path.exists():
        return decode_kek(path.read_text())
    kek = new_kek()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as out:
        out.write(encode_kek(kek) + "\n")
    return kek
