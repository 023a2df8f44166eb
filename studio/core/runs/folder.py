"""The run directory (docs/project-format.md, "The run folder"): where runs go, a new one, and
which of its files a trained model is used from. Reading runs back is listing.py's."""

from __future__ import annotations

import os
import re
import shutil
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


SLUG_CHARS = 80  # of a project's name in its run folders' names (a file name has 255 bytes)


def slug(name: str) -> str:
    said = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower()[:SLUG_CHARS].strip("-")
    return said or "run"


def create_run_dir(runs_dir: Path, project: Project, name: str | None = None) -> Path:
    """A fresh runs/<name>-<YYYYmmdd-HHMMSS>[-N]/ with the frozen project copy; a folder that
    cannot be made (read-only, a file in the way) is one StudioError, with nothing half-made left.
    `name`: exactly this folder's name (chosen by the client of a run on a host)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = runs_dir / (name or f"{slug(project.name)}-{stamp}")
    path, n = base, 1
    try:
        while True:
            try:
                path.mkdir(parents=True)
                break
            except FileExistsError:
                if not runs_dir.is_dir() or name:
                    raise
                n += 1
                path = base.with_name(f"{base.name}-{n}")
    except OSError as exc:
        raise StudioError(f"{runs_dir}: cannot make a run folder there ({exc.strerror})") from None
    try:
        (path / "checkpoints").mkdir()
        atomic_write_text(path / PROJECT, project.to_json())
    except OSError as exc:
        shutil.rmtree(path, ignore_errors=True)
        raise StudioError(f"{path}: cannot write the run folder ({exc.strerror})") from None
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
