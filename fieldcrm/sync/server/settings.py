"""Settings of the central sync server, read from ``FIELDCRM_SERVER_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fieldcrm.sync.protocol import PROTOCOL_MIN, PROTOCOL_VERSION


class ServerSettings(BaseSettings):
    """Everything the server reads from its environment; secrets never show in ``repr``."""

    model_config = SettingsConfigDict(env_prefix="FIELDCRM_SERVER_", extra="ignore")

    db: str = Field(
        default="sqlite:///server.db",
        title="Database URL",
        description="SQLAlchemy URL: sqlite:///server.db or postgresql+psycopg://user@host/db",
    )
    secret: SecretStr | None = Field(
        default=None,
        title="Token signing secret",
        description="HS256 key for access tokens; when unset one is made and kept in the DB",
    )
    access_token_ttl_s: int = Field(default=15 * 60, ge=1, title="Access-token lifetime (s)")
    refresh_token_idle_days: float = Field(default=30, gt=0, title="Refresh-token idle expiry")
    tombstone_retention_days: float = Field(
        default=180, ge=0, title="R: tombstone retention (days)"
    )
    visit_grace_days: float = Field(default=30, ge=0, title="G: visit grace window (days)")
    protocol_min: int = Field(default=PROTOCOL_MIN, title="Oldest accepted protocol")
    protocol_max: int = Field(default=PROTOCOL_VERSION, title="Newest accepted protocol")
    login_max_failures: int = Field(default=5, ge=1, title="Failed logins before 429")
    login_window_s: int = Field(default=900, ge=1, title="Login rate-limit window (s)")
    migrate_on_start: bool = Field(default=True, title="Run Alembic migrations on start")
    db_pool_size: int = Field(default=5, ge=1, title="Connections per worker (PostgreSQL)")

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("FIELDCRM_SERVER_SECRET must have at least 32 characters")
        return value
