"""The run directory (ARCHITECTURE.md, RUNS) and the list of past runs."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.files import atomic_write_text
from studio.core.project import Project

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


@dataclass
class RunSummary:
    path: Path
    name: str
    events: list[dict]

    @property
    def epochs(self) -> list[dict]:
        return [e for e in self.events if e.get("event") == "epoch"]

    @property
    def stop(self) -> dict | None:
        return next((e for e in reversed(self.events) if e.get("event") == "stop"), None)


def read_metrics(run_dir: Path) -> list[dict]:
    """Every complete line of metrics.jsonl; a line cut short by a crash is ignored."""
    events = []
    path = Path(run_dir) / METRICS
    if not path.exists():
        return events
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict):
                events.append(event)
    return events


def list_runs(runs_dir: Path, project_name: str | None = None) -> list[RunSummary]:
    """Past runs, newest first; only those of `project_name` when given."""
    runs = []
    for path in sorted(Path(runs_dir).glob("*/" + METRICS), reverse=True):
        folder = path.parent
        try:
            name = json.loads((folder / PROJECT).read_text(encoding="utf-8")).get(
                "name", folder.name
            )
        except (OSError, ValueError):
            name = folder.name
        if project_name is None or name == project_name:
            runs.append(RunSummary(folder, name, read_metrics(folder)))
    return runs


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


def trained_runs(runs_dir: Path, project_name: str) -> list[tuple[Path, str]]:
    """Runs of the project that left weights behind, newest first, labelled with their result."""
    out = []
    for run in list_runs(runs_dir, project_name):
        try:
            find_weights(run.path)
        except StudioError:  # stopped before its first checkpoint: nothing to evaluate or export
            continue
        label = run.path.name
        if run.epochs:
            last = run.epochs[-1]
            if last.get("val_acc") is not None:
                metric = f"val_acc {last['val_acc']:.1%}"
            else:
                metric = f"loss {last.get('val_loss', last['train_loss']):.4g}"
            label += f" · {len(run.epochs)} epochs · {metric}"
        out.append((run.path, label))
    return out
