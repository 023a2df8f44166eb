"""A loaded dataset in words, for `studio datasets PROJECT` and `studio summary`: its size and
classes, a table's columns with the type each was given, and the notes the loading left."""

from __future__ import annotations

from typing import Any


def dataset_lines(dataset: Any) -> list[str]:
    info = dataset.describe()
    samples = info["samples"]
    what = f"{len(info['classes'])} classes" if info["task"] == "classification" else "regression"
    split = f"train {samples['train']:,}, validation {samples['val']:,}"
    split += f", test {samples['test']:,}" if samples["test"] else ""
    lines = [f"{info['source']}: {what}, samples of shape {info['input_shape']}; {split}"]
    if dataset.table is not None:
        lines += column_lines(dataset.table)
    lines += [f"note: {note}" for note in info["notes"]]
    return lines


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
