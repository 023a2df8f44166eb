"""The user's preferences (QSettings, an INI file per user): window geometry and layout, recent
files. $STUDIO_CONFIG_DIR moves them (and the crash-recovery autosave, document.py) to a folder of
its own: what the tests do, and a way to run a second, separate studio."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 8
CONFIG_DIR = "STUDIO_CONFIG_DIR"


def config_dir() -> Path | None:
    """$STUDIO_CONFIG_DIR when set, else None (the system's own places are used)."""
    explicit = os.environ.get(CONFIG_DIR)
    return Path(explicit) if explicit else None


def settings() -> QSettings:
    folder = config_dir()
    if folder is not None:
        return QSettings(str(folder / "torch-studio.ini"), QSettings.Format.IniFormat)
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, "torch-studio", "torch-studio"
    )


def recent_files() -> list[str]:
    value = settings().value("recent", [])
    return [value] if isinstance(value, str) else list(value or [])


def remember_recent(path: Path) -> list[str]:
    """Put `path` first in the recent files; returns the new list."""
    recent = [str(path)] + [p for p in recent_files() if p != str(path)]
    settings().setValue("recent", recent[:MAX_RECENT])
    return recent[:MAX_RECENT]
