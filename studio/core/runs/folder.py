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
    return [
        RunSummary(folder, _name_of(folder), read_metrics(folder))
        for folder in _run_folders(runs_dir, project_name)
    ]


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
    """Runs of the project that left weights behind, newest first, labelled with their result.
    Light enough to list hundreds of runs: a run's metrics are not parsed line by line."""
    out = []
    for folder in _run_folders(runs_dir, project_name):
        try:
            find_weights(folder)
        except StudioError:  # stopped before its first checkpoint: nothing to evaluate or export
            continue
        label = folder.name
        count, last = epoch_summary(folder)
        if last is not None:
            if last.get("val_acc") is not None:
                metric = f"val_acc {last['val_acc']:.1%}"
            else:
                metric = f"loss {last.get('val_loss', last.get('train_loss', float('nan'))):.4g}"
            label += f" · {count} epochs · {metric}"
        out.append((folder, label))
    return out


def epoch_summary(run_dir: Path) -> tuple[int, dict | None]:
    """How many `epoch` events a run's metrics.jsonl holds, and the last one: found in its bytes
    (every event line starts with its "event" key), only that line parsed."""
    try:
        data = (Path(run_dir) / METRICS).read_bytes()
    except OSError:
        return 0, None
    marker = b'{"event": "epoch"'
    at = data.rfind(marker)
    if at < 0:
        return 0, None
    end = data.find(b"\n", at)
    try:
        last = json.loads(data[at : end if end >= 0 else len(data)])
    except ValueError:  # a line cut short by a crash
        last = None
    return data.count(marker), last if isinstance(last, dict) else None


def _run_folders(runs_dir: Path, project_name: str | None) -> list[Path]:
    """Run folders (those with a metrics.jsonl), newest first; only `project_name`'s when given."""
    folders = [path.parent for path in sorted(Path(runs_dir).glob("*/" + METRICS), reverse=True)]
    return [f for f in folders if project_name is None or _name_of(f) == project_name]


def _name_of(folder: Path) -> str:
    """The project a run trained (its frozen project.json says), else the folder's name."""
    try:
        name = json.loads((folder / PROJECT).read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        name = None
    return name if isinstance(name, str) else folder.name
