"""A table's targets beyond one label a row: several labels in one column ("cat;dog", blank for
none), several 0/1 columns (one a label), or several number columns (a regression of several
outputs). tabular.py reads the table; this says what its target columns hold.

A list of target columns is a multi-label task when every column holds only 0 and 1 (unless
data.task says "regression"), else a regression of several outputs; a column of words in the list
is one DataError naming it. A single target column is multi-label when data.task says so or when
its cells hold labels separated by `;`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from studio.core.errors import DataError

SEPARATOR = ";"  # between the labels of one cell: "cat;dog"


def target_columns(said, header: list[str], path: Path) -> list[str]:
    """The target columns `options.target` names (a name or a list; None: the last column)."""
    names = [said] if isinstance(said, str) else list(said or [header[-1]])
    missing = [n for n in names if n not in header]
    if missing:
        raise DataError(f"{path}: no column '{missing[0]}' (columns: {', '.join(header)})")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(f"{path}: options.target names column '{twice[0]}' twice")
    return names


def is_label_cells(distinct: list[str], task: str | None) -> bool:
    """Whether a single target column's distinct cells are sets of labels (`a;b`): said so, or
    some cell holds a `;` and some label is found in two different cells (`cat;dog` and `cat`).
    A class name that merely contains a `;` (a label `x; y` that nothing shares) stays a class."""
    if task is not None:
        return task == "multilabel"
    if not any(SEPARATOR in text for text in distinct):
        return False
    seen: set[str] = set()
    for text in distinct:
        labels = {part.strip() for part in text.split(SEPARATOR)} - {""}
        if labels & seen:
            return True
        seen |= labels
    return False


def label_sets(codes: np.ndarray, distinct: list[str]) -> tuple[torch.Tensor, list[str]]:
    """[rows, labels] 0/1 floats and the sorted labels, from each row's index into the distinct
    cell texts (-1: a blank cell, no label)."""
    parts = [{p.strip() for p in text.split(SEPARATOR)} - {""} for text in distinct]
    labels = sorted(set().union(*parts)) if parts else []
    index = {label: i for i, label in enumerate(labels)}
    table = np.zeros((len(distinct) + 1, len(labels)), dtype=np.float32)  # last row: blank
    for row, found in enumerate(parts):
        table[row, [index[label] for label in found]] = 1.0
    return torch.from_numpy(table[codes]), labels


def several_targets(
    frame: pd.DataFrame, targets: list[str], task: str | None, path: Path
) -> tuple[pd.DataFrame, torch.Tensor, list[str], str, list[str]]:
    """The rows kept, y [rows, columns], the labels (multi-label) and the task of a list of
    target columns; rows with a blank target are dropped (a note says how many)."""
    if task not in (None, "regression", "multilabel"):
        raise DataError(
            f"{path}: options.target lists {len(targets)} columns: a {task} task has one target "
            "column (a list is a multi-label task of 0/1 columns or a regression of several)"
        )
    values = {}
    for name in targets:
        column = pd.to_numeric(frame[name].astype("object"), errors="coerce")
        words = frame[name].notna() & column.isna()
        if words.any():
            word = str(frame[name][words].iloc[0])[:40]
            raise DataError(
                f"{path}: column '{name}' (a target) holds words ({word!r}); a list of targets "
                "needs numbers (several regression values, or 0/1 labels)"
            )
        values[name] = column.to_numpy(dtype=np.float64)
    y = np.stack([values[n] for n in targets], axis=1)
    notes = []
    blank = np.isnan(y).any(axis=1)
    if blank.all():
        raise DataError(f"{path}: no row has a value in every target column ({', '.join(targets)})")
    if blank.any():
        notes.append(f"{int(blank.sum())} row(s) without a value in every target dropped")
        frame, y = frame[~blank].reset_index(drop=True), y[~blank]
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    if task == "multilabel" and not binary:
        bad = next(n for i, n in enumerate(targets) if not np.isin(y[:, i], (0.0, 1.0)).all())
        raise DataError(
            f"{path}: column '{bad}' (a label) holds values other than 0 and 1; a multi-label "
            'task wants 0/1 columns (or, for numbers, data.task "regression")'
        )
    if binary and task != "regression":
        return frame, torch.from_numpy(y).float(), list(targets), "multilabel", notes
    from studio.core.data.tabular import _check_values

    tensor = torch.from_numpy(y)
    for i, name in enumerate(targets):
        _check_values(tensor[:, i], f"{path}: column '{name}' (a target)")
    return frame, tensor.float(), [], "regression", notes


def check_labels(y: torch.Tensor, labels: list[str], path: Path, target: str) -> None:
    """A multi-label target needs at least one label seen in some row."""
    if not labels:
        raise DataError(f"{path}: column '{target}' (the target) holds no label in any row")
