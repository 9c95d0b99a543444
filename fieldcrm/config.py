"""Where fieldcrm keeps its files, and the few app-level settings read from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

APP_NAME = "fieldcrm"
ORG_NAME = "fieldcrm"


def data_dir() -> Path:
    """Return the folder for the local database and logs (``FIELDCRM_DATA_DIR`` overrides it)."""
    override = os.environ.get("FIELDCRM_DATA_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, ORG_NAME))


def cache_dir() -> Path:
    """Return the folder for rebuildable files (the generated map page, tile cache)."""
    override = os.environ.get("FIELDCRM_DATA_DIR")
    if override:
        return Path(override).expanduser() / "cache"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME, ORG_NAME))


def default_db_path() -> Path:
    """Return the local database file used when ``--db`` is not given."""
    return data_dir() / "fieldcrm.db"


def log_path() -> Path:
    """Return the app's log file."""
    return data_dir() / "logs" / "fieldcrm.log"


def env_setting(name: str, default: str) -> str:
    """Return the environment setting ``FIELDCRM_<NAME>`` (read before pydantic is imported)."""
    return os.environ.get(f"FIELDCRM_{name.upper()}", default)


def _define_app_settings() -> type:
    # pydantic-settings costs ~0.5 s to import; only the map needs these settings, so the class
    # is defined on first use (``from fieldcrm.config import AppSettings`` still works).
    from pydantic import Field
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class AppSettings(BaseSettings):
        """App-level settings from the environment (``FIELDCRM_*``); the rep's own live in the DB."""

        model_config = SettingsConfigDict(env_prefix="FIELDCRM_", extra="ignore")

        tile_url: str | None = Field(
            default=None, title="Map tile URL",
            description="Optional raster tile server, e.g. https://tiles.example.com/{z}/{x}/{y}.png;"
                        " without it the map shows the bundled outlines only (works offline).")
        screenshot_timeout_s: float = Field(
            default=30.0, title="Screenshot timeout",
            description="How long --screenshot waits for the list and the map to finish drawing.")
        log_level: str = Field(default="INFO", title="Log level",
                               description="Level of the log file in the data folder.")

    return AppSettings


def __getattr__(name: str) -> Any:
    if name == "AppSettings":
        cls = _define_app_settings()
        globals()["AppSettings"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
