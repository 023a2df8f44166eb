"""Where the studio finds its bundled resources and keeps its caches."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """`resources/` beside the package (source tree, editable install) or inside a frozen build."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def studio_command() -> tuple[str, list[str]]:
    """How to start another `studio` command: this interpreter with `-m studio`, or, in a frozen
    build, the `studio` executable itself (it has no `-m`)."""
    if getattr(sys, "frozen", False):
        return sys.executable, []
    return sys.executable, ["-m", "studio"]


def cache_dir() -> Path:
    """Decoded-dataset caches: $STUDIO_CACHE_DIR, else the user's cache folder."""
    explicit = os.environ.get("STUDIO_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or (
        os.environ.get("LOCALAPPDATA") if sys.platform == "win32" else None
    )
    return Path(base or Path.home() / ".cache") / "torch-studio"


CONFIG_DIR = "STUDIO_CONFIG_DIR"


def config_dir() -> Path:
    """The user's studio settings that are files (the hosts): $STUDIO_CONFIG_DIR, else the
    user's config folder (XDG_CONFIG_HOME, APPDATA on Windows, ~/.config)."""
    explicit = os.environ.get(CONFIG_DIR)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or (
        os.environ.get("APPDATA") if sys.platform == "win32" else None
    )
    return Path(base or Path.home() / ".config") / "torch-studio"
