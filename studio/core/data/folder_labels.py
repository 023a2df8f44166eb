"""An image folder's labels CSV (the image_folder source's `labels` option): several labels an
image, a multi-label task. Either two columns, a file name (relative to the folder) and its labels
separated by `;` (`a.png,cat;dog`; blank: none; an optional header row), or a header `file,cat,
dog,...` and a 0/1 column a label. Images are named by the file, not found in class sub-folders."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from studio.core.data.table_targets import label_sets
from studio.core.errors import DataError


def read_labels(
    labels_file: Path, root: Path, suffixes: tuple[str, ...]
) -> tuple[list[Path], torch.Tensor, list[str]]:
    """The images the file names (in its order), y [images, labels] of 0/1 floats, the labels."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (the images the labels file names)")
    rows = _rows(labels_file)
    wide = len(rows[0]) > 2  # a header of label columns
    if wide or not _is_file(root, rows[0][0], suffixes):
        header, rows = rows[0], rows[1:]
    else:
        header = None
    if not rows:
        raise DataError(f"{labels_file}: no rows (expected a file name and its labels a row)")
    files = [_image(root, row[0], labels_file, n, suffixes) for n, row in _numbered(rows, header)]
    if wide:
        labels, y = _columns(header, rows, labels_file)
    else:
        labels, y = _sets(rows)
    if not labels:
        raise DataError(f"{labels_file}: names no label for any image")
    return files, y, labels


def _rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise DataError(f"{path}: no such file (the labels of the images)")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
            rows = [[c.strip() for c in r] for r in csv.reader(handle, delimiter=delimiter)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read as a labels table ({exc})") from None
    rows = [r for r in rows if any(r)]
    if not rows:
        raise DataError(f"{path}: empty (expected a file name and its labels a row)")
    return rows


def _numbered(rows: list[list[str]], header) -> list[tuple[int, list[str]]]:
    return list(enumerate(rows, start=2 if header is not None else 1))


def _is_file(root: Path, name: str, suffixes: tuple[str, ...]) -> bool:
    return name.lower().endswith(suffixes) or (root / name).is_file()


def _image(root: Path, name: str, labels_file: Path, row: int, suffixes) -> Path:
    path = root / name
    if not name or not path.is_file():
        raise DataError(f"{labels_file}: row {row} names {name!r}, which is not a file in {root}")
    if not name.lower().endswith(suffixes):
        raise DataError(f"{labels_file}: row {row} names {name!r}, which is not an image file")
    return path


def _sets(rows: list[list[str]]) -> tuple[list[str], torch.Tensor]:
    """Labels separated by `;` in the second column, read as a table's label cells are."""
    cells = [r[1] if len(r) > 1 else "" for r in rows]
    distinct = sorted(set(cells))
    where = {cell: i for i, cell in enumerate(distinct)}
    y, labels = label_sets(np.array([where[c] for c in cells], dtype=np.int64), distinct)
    return labels, y


def _columns(
    header: list[str], rows: list[list[str]], path: Path
) -> tuple[list[str], torch.Tensor]:
    """A 0/1 column a label, named by the header."""
    labels = header[1:]
    if len(set(labels)) != len(labels) or not all(labels):
        raise DataError(f"{path}: the header's label names must be distinct and not blank")
    y = torch.zeros((len(rows), len(labels)))
    for i, row in enumerate(rows):
        cells = row[1:]
        if len(cells) != len(labels) or any(c not in ("0", "1", "") for c in cells):
            raise DataError(
                f"{path}: row {i + 2} should hold {len(labels)} values of 0 or 1 after the file name"
            )
        y[i] = torch.tensor([c == "1" for c in cells], dtype=torch.float32)
    return labels, y
