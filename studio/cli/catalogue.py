"""`studio layers`, `studio datasets`, `studio devices` and `studio summary`: what the studio
offers, and what a project's data and model are, in words (a table's columns with the type each
was given, the notes loading left)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from studio.core.units import si


def add_parsers(sub: argparse._SubParsersAction) -> None:
    layers = sub.add_parser("layers", help="the layer catalogue by category")
    layers.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    layers.set_defaults(run=run_layers)

    datasets = sub.add_parser("datasets", help="the dataset sources, offline availability, options")
    datasets.add_argument(
        "project", nargs="?", help="a project file: describe its dataset (splits, classes, columns)"
    )
    datasets.add_argument("--json", action="store_true", help="print the sources as JSON")
    datasets.set_defaults(run=run_datasets)

    devices = sub.add_parser(
        "devices", help="the devices torch reports here, with memory and precisions"
    )
    devices.add_argument("--json", action="store_true", help="print the devices as JSON")
    devices.set_defaults(run=run_devices)

    summary = sub.add_parser(
        "summary", help="per-layer output shape, parameters and FLOPs of a project's model"
    )
    summary.add_argument("project", help="a project file (.json)")
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.set_defaults(run=run_summary)


def run_layers(args: argparse.Namespace) -> int:
    from studio.core.catalogue import components, layers

    if args.json:
        payload = {
            "categories": [
                {"name": category, "layers": [info.to_json() for info in entries]}
                for category, entries in layers.by_category()
            ],
            "losses": [c.to_json() for c in components.losses().values()],
            "optimizers": [c.to_json() for c in components.optimizers().values()],
            "schedulers": [c.to_json() for c in components.schedulers().values()],
        }
        print(json.dumps(payload, indent=2))
        return 0
    for category, entries in layers.by_category():
        print(category)
        for info in entries:
            print(f"  {info.type:<24} {info.doc}")
            signature = _signature(info.params)
            if signature:
                print(f"  {'':<24} ({signature})")
        print()
    return 0


def _signature(params) -> str:
    parts = []
    for p in params:
        if p.inferred:
            parts.append(f"{p.name}=auto")
        elif p.required:
            parts.append(p.name)
        else:
            parts.append(f"{p.name}={json.dumps(p.default)}")
    return ", ".join(parts)


def run_datasets(args: argparse.Namespace) -> int:
    from studio.core.data import SOURCES

    if args.project:
        dataset = _project_dataset(args.project)[1]
        print(
            json.dumps(dataset.describe(), indent=2)
            if args.json
            else "\n".join(dataset_lines(dataset))
        )
        return 0
    if args.json:
        print(json.dumps({"sources": [s.to_json() for s in SOURCES.values()]}, indent=2))
        return 0
    for source in SOURCES.values():
        status = (
            "offline"
            if source.offline
            else ("downloaded" if source.downloaded({}, Path.cwd()) else "needs files")
        )
        print(f"{source.id:<14} {status:<12} {source.description}")
        options = _signature(source.options)
        if options:
            print(f"{'':<27} options: {options}")
    return 0


def run_devices(args: argparse.Namespace) -> int:
    from studio.core.train.devices import list_devices

    found = list_devices()
    if args.json:
        print(json.dumps({"devices": [d.to_json() for d in found]}, indent=2))
        return 0
    for d in found:
        memory = f"{d.memory_bytes / 2**30:.1f} GiB" if d.memory_bytes else "shared memory"
        threads = f", {d.threads_text()}" if d.threads else ""
        print(f"{d.id:<8} {d.name} ({memory}{threads}); precisions: {', '.join(d.precisions)}")
    return 0


def _project_dataset(path: str):
    """A project file and its loaded dataset; the model's input shape is the data's."""
    from studio.core.data import load_project_data
    from studio.core.project.reading import load_project

    project = load_project(path)
    dataset = load_project_data(project, Path(path).parent)
    if project.model.input_shape is None:
        project.model.input_shape = dataset.input_shape
    return project, dataset


def run_summary(args: argparse.Namespace) -> int:
    from studio.core.model.shapes import infer_shapes
    from studio.core.project.reading import load_project

    project = load_project(args.project)
    dataset = None
    if project.model.input_shape is None or project.data.source == "csv":  # a table's columns
        project, dataset = _project_dataset(args.project)
    report = infer_shapes(project.model).raise_error()
    table = dataset.table if dataset is not None else None
    task = dataset.task if dataset is not None else project.data.task
    if args.json:
        extra = {"columns": table.describe(), "notes": table.notes} if table is not None else {}
        extra.update(_said_targets(dataset))
        print(json.dumps({**report.to_json(), "task": task, **extra}, indent=2))
        return 0
    said = f", {task}" if task else ""
    said += "".join(f" ({k}: {', '.join(v)})" for k, v in _said_targets(dataset).items())
    print(f"{project.name}: one sample of shape {report.input_shape}{said}")
    if table is not None:
        print("\n".join(column_lines(table)))
    header = f"{'Layer':<34} {'Output shape':<18} {'Params':>12} {'FLOPs':>10}"
    print(header)
    print("-" * len(header))
    for row in report.rows:
        label = f"{'  ' * row.depth}{row.path:<6} {row.type}"
        print(f"{label:<34} {str(row.output_shape):<18} {row.params:>12,} {si(row.flops):>10}")
        for part in row.parts:  # a Detector's own modules
            frozen = part["params"] - part["trainable"]
            note = f"  ({frozen:,} frozen)" if frozen else ""
            label = f"{'  ' * (row.depth + 1)}  {part['name']} {part['type']}"
            print(f"{label:<53} {part['params']:>12,}{note}")
    print("-" * len(header))
    print(f"Total params: {report.total_params:,} (trainable {report.trainable_params:,})")
    print(f"FLOPs per sample: {si(report.total_flops)}    Output: {report.output_shape}")
    return 0


def _said_targets(dataset) -> dict[str, list[str]]:
    """What a summary names beyond the task: a multi-label task's labels, a regression's targets."""
    if dataset is not None and dataset.task == "multilabel":
        return {"labels": list(dataset.classes)}
    if dataset is not None and dataset.targets:
        return {"targets": list(dataset.targets)}
    return {}


def dataset_lines(dataset: Any) -> list[str]:
    info = dataset.describe()
    samples = info["samples"]
    what = dataset.what
    split = f"train {samples['train']:,}, validation {samples['val']:,}"
    split += f", test {samples['test']:,}" if samples["test"] else ""
    lines = [f"{info['source']}: {what}, samples of shape {info['input_shape']}; {split}"]
    if dataset.table is not None:
        lines += column_lines(dataset.table)
    if info.get("pixel_counts"):
        total = max(1, sum(info["pixel_counts"].values()))
        shares = ", ".join(f"{c} {n / total:.1%}" for c, n in info["pixel_counts"].items())
        lines.append(f"pixels of the training masks: {shares}")
    lines += _target_lines(info)
    lines += [f"note: {note}" for note in info["notes"]]
    return lines


def _target_lines(info: dict) -> list[str]:
    """A multi-label task's labels with how many training samples have each; a detection's
    images and boxes (of each class) in each split; a regression's target columns."""
    if info["task"] == "multilabel":
        counts = zip(info["classes"], info["class_counts"], strict=False)
        return [
            "labels (training samples with each): " + ", ".join(f"{c} {n:,}" for c, n in counts)
        ]
    if info["task"] == "detection":
        lines = []
        for split, images in info["images"].items():
            counts = info["boxes_per_class"][split].items()  # the classes with boxes in it
            per_class = ", ".join(f"{c} {n:,}" for c, n in counts if n) or "background only"
            if images:
                boxes = info["boxes"][split]
                lines.append(f"{split}: {images:,} images, {boxes:,} boxes ({per_class})")
        return lines
    if info.get("targets"):
        return [
            f"targets: {', '.join(info['targets'])} (a regression of {len(info['targets'])} values)"
        ]
    return []


def column_lines(table: Any) -> list[str]:
    """A line a column: its name, its type (number, category, ignored, target) and what it became."""
    lines = [f"columns ({table.width} features from {len(table.columns)} columns):"]
    for column in table.columns:
        if column.type == "number":
            what = f"missing cells become {column.median:.6g}"
        elif column.type == "category":
            what = f"{len(column.categories)} one-hot slots: {', '.join(column.categories[:6])}"
            what += ", ..." if len(column.categories) > 6 else ""
        else:
            what = column.note
        kind = "ignored" if column.type == "ignore" else column.type
        lines.append(f"  {column.name:<24} {kind:<9} {what}")
    lines.append(f"  {table.target:<24} {'target':<9} what the model learns to predict")
    return lines
