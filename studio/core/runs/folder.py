"""The run directory (docs/project-format.md, "The run folder"): where runs go, a new one, and
which of its files a trained model is used from. Reading runs back is listing.py's."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.files import atomic_write_text
from studio.core.project.spec import Project

METRICS = "metrics.jsonl"
PROJECT = "project.json"
CHECKPOINT_ORDER = ("best.pt", "last.pt")  # which checkpoint a run is used from


def default_runs_dir(project_file: str | Path | None, explicit: str | Path | None = None) -> Path:
    """--runs-dir, else $STUDIO_RUNS_DIR, else runs/ beside the project file."""
    if explicit:
        return Path(explicit)
    if os.environ.get("STUDIO_RUNS_DIR"):
        return Path(os.environ["STUDIO_RUNS_DIR"])
    return (Path(project_file).parent if project_file else Path.cwd()) / "runs"


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower() or "run"


def create_run_dir(runs_dir: Path, project: Project) -> Path:
    """A fresh runs/<name>-<YYYYmmdd-HHMMSS>[-N]/ with the frozen project copy."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = runs_dir / f"{slug(project.name)}-{stamp}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            break
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")
    (path / "checkpoints").mkdir()
    atomic_write_text(path / PROJECT, project.to_json())
    return path


def find_weights(path: str | Path) -> Path:
    """The file to load for a run directory (best, else last checkpoint, else final weights)."""
    path = Path(path)
    if path.is_dir():
        for name in CHECKPOINT_ORDER:
            if (path / "checkpoints" / name).is_file():
                return path / "checkpoints" / name
        if (path / "model.safetensors").is_file():
            return path / "model.safetensors"
        raise StudioError(
            f"{path}: not a run directory (no checkpoints/best.pt, last.pt or model.safetensors)"
        )
    if not path.exists():
        raise StudioError(f"{path}: no such run directory or checkpoint")
    return path
