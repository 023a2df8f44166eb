"""Runs side by side: every run under a runs folder as one row (`studio runs`), and what differs
between two of them (`studio diff`), read from the files every run writes (project.json,
metrics.jsonl), so runs from other processes, torchrun or other machines count the same.

A run's metrics.jsonl is not parsed whole: only its start, epoch and stop lines (each line begins
with its "event" key), which keeps a table of hundreds of runs quick.
"""

from __future__ import annotations

import difflib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError
from studio.core.runs.folder import METRICS, PROJECT

RUNNING_SECONDS = 120  # a run whose metrics grew this recently, without a stop, is running
_WANTED = (b'{"event": "start"', b'{"event": "epoch"', b'{"event": "stop"')
_FAILED = ("error", "non_finite_loss")


@dataclass
class RunRow:
    path: Path
    name: str
    started: float | None  # seconds since the epoch
    status: str  # completed | stopped | failed | running
    epochs: int
    metric: str | None  # what best and final are: val_acc (higher is better), else a loss
    best: float | None
    final: float | None
    params: int | None
    seconds: float | None
    device: str | None
    project: dict[str, Any] = field(default_factory=dict, repr=False)
    varying: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.name,
            "started": self.started,
            "status": self.status,
            "epochs": self.epochs,
            "metric": self.metric,
            "best": self.best,
            "final": self.final,
            "params": self.params,
            "seconds": self.seconds,
            "device": self.device,
            "varying": self.varying,
        }


def read_run(folder: Path, now: float | None = None) -> RunRow:
    """One run's row, from its files (see the module)."""
    folder = Path(folder)
    try:
        project = json.loads((folder / PROJECT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        project = {}
    project = project if isinstance(project, dict) else {}
    metrics = folder / METRICS
    try:
        data, grown = metrics.read_bytes(), metrics.stat().st_mtime
    except OSError:
        data, grown = b"", 0.0
    start: dict[str, Any] = {}
    stop: dict[str, Any] | None = None
    epochs: list[dict[str, Any]] = []
    for line in data.splitlines():
        if not line.startswith(_WANTED):
            continue
        try:
            event = json.loads(line)
        except ValueError:  # a line cut short by a crash
            continue
        kind = event.get("event")
        if kind == "start":
            start = start or event
        elif kind == "epoch":
            epochs.append(event)
        else:
            stop = event
    metric = _metric(epochs)
    values = [e[metric] for e in epochs if metric and isinstance(e.get(metric), (int, float))]
    best = (max(values) if metric.endswith("acc") else min(values)) if values else None
    began = start.get("time")
    if stop is not None:
        reason = stop.get("reason")
        status = (
            "failed"
            if reason in _FAILED
            else "stopped"
            if reason in ("stopped", "pruned")
            else "completed"
        )
    else:
        now = time.time() if now is None else now
        status = "running" if now - grown < RUNNING_SECONDS else "failed"
    return RunRow(
        path=folder,
        name=str(project.get("name") or folder.name),
        started=began,
        status=status,
        epochs=len(epochs),
        metric=metric,
        best=best,
        final=values[-1] if values else None,
        params=start.get("params"),
        seconds=(grown - began) if isinstance(began, (int, float)) and grown else None,
        device=start.get("device"),
        project=project,
    )


def _metric(epochs: list[dict[str, Any]]) -> str | None:
    for name in ("val_acc", "val_loss", "train_acc", "train_loss"):
        if any(name in e for e in epochs):
            return name
    return None


def list_run_rows(runs_dir: Path, now: float | None = None) -> list[RunRow]:
    """Every run under `runs_dir` (folders with a metrics.jsonl), newest first, each with the
    settings that vary between them."""
    folders = sorted(Path(runs_dir).glob(f"*/{METRICS}"), reverse=True)
    rows = [read_run(path.parent, now) for path in folders]
    rows.sort(key=lambda r: r.started or 0, reverse=True)
    flat = [flatten(r.project, skip=("name",)) for r in rows]
    stacks = [_stack(r.project) for r in rows]
    if len(set(stacks)) > 1:  # different models: named by their layers, not arg by arg
        flat = [
            {**{k: v for k, v in f.items() if not k.startswith("model.layers.")}, "model.layers": s}
            for f, s in zip(flat, stacks, strict=True)
        ]
    keys = sorted({k for f in flat for k in f})
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
    for row, settings in zip(rows, flat, strict=True):
        row.varying = {k: settings.get(k) for k in varying}
    return rows


def _stack(project: dict[str, Any]) -> str:
    """A model's layers in a few words: "Flatten, Linear, ReLU, Dropout, Linear"."""
    types = [str(layer.get("type")) for layer in _layers(project) if isinstance(layer, dict)]
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


# ---------------------------------------------------------------------------- diff


@dataclass
class Change:
    path: str  # JSON path in the project: "training.optimizer.args.lr", "model.layers.2"
    a: Any
    b: Any
    said: str  # as a person reads it

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "a": self.a, "b": self.b, "said": self.said}


def diff_runs(a: Path, b: Path) -> tuple[list[Change], dict[str, Any]]:
    """What differs between two runs' projects (layers matched by type, as a text diff matches
    lines, so an inserted layer is one change), and their metrics side by side."""
    rows = [read_run(_run_folder(p)) for p in (a, b)]
    changes = _layer_changes(
        _layers(rows[0].project), _layers(rows[1].project), "model.layers", "layer "
    )
    flat_a, flat_b = (
        flatten({k: v for k, v in r.project.items() if k not in ("model", "name")}) for r in rows
    )
    shape_a, shape_b = (r.project.get("model", {}).get("input_shape") for r in rows)
    if shape_a != shape_b:
        changes.insert(
            0, Change("model.input_shape", shape_a, shape_b, f"input shape {shape_a} -> {shape_b}")
        )
    for key in sorted(flat_a.keys() | flat_b.keys()):
        x, y = flat_a.get(key), flat_b.get(key)
        if x != y:
            changes.append(Change(key, x, y, f"{key}: {_show(x)} -> {_show(y)}"))
    metric = rows[0].metric or rows[1].metric
    metrics = {"metric": metric, "a": {}, "b": {}, "delta": {}}
    for which in ("best", "final"):
        x, y = getattr(rows[0], which), getattr(rows[1], which)
        metrics["a"][which], metrics["b"][which] = x, y
        metrics["delta"][which] = y - x if x is not None and y is not None else None
    for key in ("epochs", "seconds", "params", "status"):
        metrics["a"][key], metrics["b"][key] = getattr(rows[0], key), getattr(rows[1], key)
    return changes, metrics


def _run_folder(path: Path) -> Path:
    path = Path(path)
    folder = path if path.is_dir() else path.parent.parent  # a checkpoint: <run>/checkpoints/x.pt
    if not (folder / PROJECT).is_file():
        raise StudioError(f"{path}: not a run directory (no {PROJECT})")
    return folder


def _layers(project: dict[str, Any]) -> list[dict[str, Any]]:
    layers = project.get("model", {}).get("layers", [])
    return layers if isinstance(layers, list) else []


def _layer_changes(a: list, b: list, path: str, label: str) -> list[Change]:
    """Layers added, removed or changed between two stacks (containers compared inside)."""
    changes: list[Change] = []
    types = [[layer.get("type") for layer in side] for side in (a, b)]
    matcher = difflib.SequenceMatcher(a=types[0], b=types[1], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                changes += _same_layer(a[i], b[j], f"{path}.{j}", f"{label}{j}")
            continue
        if op == "replace" and i2 - i1 == j2 - j1:
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                said = f"{label}{j}: {a[i].get('type')} -> {b[j].get('type')}"
                changes.append(Change(f"{path}.{j}", a[i], b[j], said))
            continue
        for i in range(i1, i2):
            changes.append(
                Change(f"{path}.{i}", a[i], None, f"{label}{i} ({a[i].get('type')}) removed")
            )
        for j in range(j1, j2):
            changes.append(
                Change(f"{path}.{j}", None, b[j], f"{label}{j} ({b[j].get('type')}) added")
            )
    return changes


def _same_layer(x: dict, y: dict, path: str, label: str) -> list[Change]:
    changes = []
    kind = x.get("type")
    for key in sorted((x.get("args") or {}).keys() | (y.get("args") or {}).keys()):
        old, new = (x.get("args") or {}).get(key), (y.get("args") or {}).get(key)
        if old != new:
            said = f"{label} ({kind}): {key} {_show(old)} -> {_show(new)}"
            changes.append(Change(f"{path}.args.{key}", old, new, said))
    for key in ("frozen", "merge"):
        if x.get(key) != y.get(key):
            said = f"{label} ({kind}): {key} {_show(x.get(key))} -> {_show(y.get(key))}"
            changes.append(Change(f"{path}.{key}", x.get(key), y.get(key), said))
    if isinstance(x.get("layers"), list) or isinstance(y.get("layers"), list):
        changes += _layer_changes(
            x.get("layers") or [], y.get("layers") or [], f"{path}.layers", f"{label}."
        )
    pairs = zip(x.get("branches") or [], y.get("branches") or [], strict=False)
    for b, (one, two) in enumerate(pairs):
        changes += _layer_changes(one, two, f"{path}.branches.{b}", f"{label}.branches.{b}.")
    if len(x.get("branches") or []) != len(y.get("branches") or []):
        said = f"{label} ({kind}): {len(x.get('branches') or [])} -> {len(y.get('branches') or [])} branches"
        changes.append(Change(f"{path}.branches", x.get("branches"), y.get("branches"), said))
    return changes


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:g}"
    return json.dumps(value)
