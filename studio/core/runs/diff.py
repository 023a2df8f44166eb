"""What differs between two runs (`studio diff`), as a person reads it: layers matched by type as a
text diff matches lines (an inserted layer is one change), arguments, settings by JSON path, and
the metrics side by side."""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError
from studio.core.model.walk import child_prefix
from studio.core.runs.folder import PROJECT
from studio.core.runs.listing import flatten, project_layers, read_run


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
        project_layers(rows[0].project), project_layers(rows[1].project), "model.layers", "layer "
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
    for side, row in (("a", rows[0]), ("b", rows[1])):
        metrics[side].update(
            epochs=len(row.epochs), seconds=row.seconds, params=row.params, status=row.status
        )
    return changes, metrics


def describe_diff(a: str, b: str, changes: list[Change], metrics: dict[str, Any]) -> list[str]:
    """The diff as lines for a person (`studio diff`, the Runs tab): `a` and `b` name the runs."""
    from studio.core.train.events import show_metric

    lines = [f"a: {a}", f"b: {b}"]
    lines += [f"  {change.said}" for change in changes] or ["the same project"]
    metric = metrics["metric"]
    for which in ("best", "final") if metric else ():
        x, y, delta = (metrics[k][which] for k in ("a", "b", "delta"))
        if x is not None or y is not None:
            shown = [show_metric(metric, v) if v is not None else "(none)" for v in (x, y)]
            moved = f" ({delta:+.4g})" if delta is not None else ""
            lines.append(f"{which} {metric}: {shown[0]} -> {shown[1]}{moved}")
    return lines


def _run_folder(path: Path) -> Path:
    path = Path(path)
    folder = path if path.is_dir() else path.parent.parent  # a checkpoint: <run>/checkpoints/x.pt
    if not (folder / PROJECT).is_file():
        raise StudioError(f"{path}: not a run directory (no {PROJECT})")
    return folder


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
            x.get("layers") or [], y.get("layers") or [], f"{path}.layers", child_prefix(label)
        )
    # `path` is the project's JSON key ("model.layers.3.branches.1"), `label` the summary path.
    pairs = zip(x.get("branches") or [], y.get("branches") or [], strict=False)
    for b, (one, two) in enumerate(pairs):
        changes += _layer_changes(one, two, f"{path}.branches.{b}", child_prefix(label, b))
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
