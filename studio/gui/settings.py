"""The user's preferences (QSettings, an INI file per user): window geometry and recent files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 8


def settings() -> QSettings:
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
