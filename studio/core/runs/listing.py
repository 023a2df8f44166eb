"""Every run under a runs folder, read from the files every run writes (project.json,
metrics.jsonl), so runs of other processes, torchrun or other machines count the same: the one
`Run` type and the one lister, used by `studio runs`, the Evaluation tab's list, the Runs tab and
the curves laid over the live ones. Runs come newest first by the time their start event gives."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.remote.record import read_record
from studio.core.runs.folder import METRICS, PROJECT, find_weights
from studio.core.runs.lock import is_written
from studio.core.runs.metrics import read_metrics
from studio.core.train.events import higher_is_better, show_metric

RUNNING_SECONDS = 120  # a run whose metrics grew this recently, without a stop, is running
_FAILED = ("error", "non_finite_loss")
_STOPPED = ("stopped", "pruned")
MEASURED_BY = (  # a run's result, the first found: its task's validation score, else a loss
    "val_acc", "val_miou", "val_f1", "val_loss", "train_acc", "train_loss",
)  # fmt: skip


@dataclass
class Run:
    path: Path
    name: str  # the project's (its frozen project.json says), else the folder's
    project: dict[str, Any] = field(repr=False)
    started: float | None  # the start event's time, seconds since the epoch
    status: str  # completed | stopped | failed | running
    epochs: list[dict[str, Any]] = field(repr=False)  # its `epoch` events
    stop: dict[str, Any] | None
    params: int | None
    seconds: float | None  # from its start to its last line
    device: str | None
    has_weights: bool  # a checkpoint or final weights to evaluate, export or predict with
    metric: str | None = None  # what best and final measure: the validation accuracy, else a loss
    best: float | None = None
    final: float | None = None
    varying: dict[str, Any] = field(default_factory=dict)  # the settings that differ between runs
    host: str | None = None  # the host(s) it trained on (`train --on`); None: here

    @property
    def label(self) -> str:
        """How a list names it: the folder, its epochs and its last result."""
        said = self.path.name
        if self.epochs:
            said += f" · {len(self.epochs)} epochs"
        if self.final is not None:
            said += f" · {self.metric} {show_metric(self.metric, self.final)}"
        return said

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.name,
            "started": self.started,
            "status": self.status,
            "epochs": len(self.epochs),
            "metric": self.metric,
            "best": self.best,
            "final": self.final,
            "params": self.params,
            "seconds": self.seconds,
            "device": self.device,
            "varying": self.varying,
            "host": self.host,
        }


def frozen_project(folder: Path) -> dict[str, Any]:
    """A run's frozen project.json as JSON ({} when it is missing or broken)."""
    try:
        project = json.loads((folder / PROJECT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return project if isinstance(project, dict) else {}


def read_run(folder: str | Path, now: float | None = None, project: dict | None = None) -> Run:
    """One run, from its files: its project (read here unless given), and its start, epoch and
    stop events."""
    folder = Path(folder)
    project = frozen_project(folder) if project is None else project
    events = read_metrics(folder, ("start", "epoch", "stop"))
    start = next((e for e in events if e["event"] == "start"), {})
    latest = max((i for i, e in enumerate(events) if e["event"] == "start"), default=0)
    stop = next((e for e in reversed(events[latest:]) if e["event"] == "stop"), None)  # resumed?
    try:
        grown = (folder / METRICS).stat().st_mtime
    except OSError:
        grown = 0.0
    began = start.get("time") if isinstance(start.get("time"), (int, float)) else None
    epochs = [e for e in events if e["event"] == "epoch"]
    remote = read_record(folder)
    status = _status(folder, stop, grown, time.time() if now is None else now)
    if remote is not None and stop is None:  # its events come here only while followed
        status = "running" if remote.state == "running" else "failed"
    return Run(
        path=folder,
        name=str(project.get("name") or folder.name),
        project=project,
        started=began,
        status=status,
        epochs=epochs,
        stop=stop,
        params=start.get("params"),
        seconds=(grown - began) if began is not None and grown else None,
        device=start.get("device"),
        has_weights=_has_weights(folder),
        **_result(epochs),
        host=(remote.host or ",".join(remote.hosts)) if remote is not None else None,
    )


def _result(epochs: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's metric (the validation accuracy, else a loss), its best and its final value:
    worked out once, as tables sort and filter on them many times."""
    metric = next((m for m in MEASURED_BY if any(m in e for e in epochs)), None)
    values = [e[metric] for e in epochs if isinstance(e.get(metric), (int, float))]
    if not values:
        return {"metric": metric, "best": None, "final": None}
    best = max(values) if higher_is_better(metric) else min(values)
    return {"metric": metric, "best": best, "final": values[-1]}


def _status(folder: Path, stop: dict[str, Any] | None, grown: float, now: float) -> str:
    """From the stop event; without one, running while a process holds the run's lock (lock.py),
    else it died. A folder without a lock (an older studio's) is running while its metrics grow."""
    if stop is None:
        written = is_written(folder)
        if written is None:
            return "running" if now - grown < RUNNING_SECONDS else "failed"
        return "running" if written else "failed"
    reason = stop.get("reason")
    return "failed" if reason in _FAILED else "stopped" if reason in _STOPPED else "completed"


def _has_weights(folder: Path) -> bool:
    from studio.core.errors import StudioError

    try:
        find_weights(folder)
    except StudioError:  # stopped before its first checkpoint: nothing to evaluate or export
        return False
    return True


def list_runs(
    runs_dir: str | Path, project_name: str | None = None, now: float | None = None
) -> list[Run]:
    """Every run under `runs_dir` (the folders with a metrics.jsonl), newest first by its start
    event, each with the settings that vary between them; only `project_name`'s when given."""
    runs = []
    for folder in (path.parent for path in Path(runs_dir).glob(f"*/{METRICS}")):
        project = frozen_project(folder)
        name = str(project.get("name") or folder.name)
        if project_name is None or name == project_name:  # others' metrics are not read
            runs.append(read_run(folder, now, project))
    runs.sort(key=lambda r: (r.started or 0.0, r.path.name), reverse=True)
    _find_varying(runs)
    return runs


def _find_varying(runs: list[Run]) -> None:
    flat = [flatten(r.project, skip=("name",)) for r in runs]
    stacks = [_stack(r.project) for r in runs]
    if len(set(stacks)) > 1:  # different models: named by their layers, not arg by arg
        flat = [
            {**{k: v for k, v in f.items() if not k.startswith("model.layers.")}, "model.layers": s}
            for f, s in zip(flat, stacks, strict=True)
        ]
    keys = sorted({k for f in flat for k in f})
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
    for run, settings in zip(runs, flat, strict=True):
        run.varying = {k: settings.get(k) for k in varying}


def project_layers(project: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's frozen project's layers (as JSON), however broken the file."""
    model = project.get("model")
    layers = model.get("layers", []) if isinstance(model, dict) else []
    return (
        [layer for layer in layers if isinstance(layer, dict)] if isinstance(layers, list) else []
    )


def _stack(project: dict[str, Any]) -> str:
    """A model's layers in a few words: "Flatten, Linear, ReLU, Dropout, Linear"."""
    types = [str(layer.get("type")) for layer in project_layers(project)]
    said = ", ".join(types)
    return said if len(said) <= 60 else f"{len(types)} layers: {said[:48]}…"


def flatten(value: Any, prefix: str = "", skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A project as {JSON path: value} for its leaves: "training.optimizer.args.lr"."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for key, item in value.items():
            if not prefix and key in skip:
                continue
            out.update(flatten(item, f"{prefix}{key}.", skip))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}{i}.", skip))
    else:
        out[prefix[:-1]] = value
    return out
