"""CSV files: numeric feature columns and a target, or a text column for sequence models.

A text or integer target is a classification (class names kept, sorted); a float target is a
regression. A text column is tokenised after the split, on the training rows only.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from pathlib import Path

import torch

from studio.core.data.cache import cached, file_stamp
from studio.core.data.context import LoadContext
from studio.core.data.dataset import RawData, Split
from studio.core.errors import DataError

PAD, UNKNOWN = "<pad>", "<unk>"
_WORD = re.compile(r"[\w']+")


def load(options: dict, ctx: LoadContext) -> RawData:
    path = ctx.resolve(options["path"])
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    key = {"options": options, "file": file_stamp([path])}
    return cached("csv", key, lambda: _read(path, options))


def _read(path: Path, options: dict) -> RawData:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read as CSV ({exc})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise DataError(f"{path}: empty (expected a header row and at least one data row)")
    header = [h.strip() for h in rows[0]]
    target = options["target"] or header[-1]
    if target not in header:
        raise DataError(f"{path}: no column '{target}' (columns: {', '.join(header)})")
    text = options["text"]
    if text is not None and text not in header:
        raise DataError(f"{path}: no text column '{text}' (columns: {', '.join(header)})")
    data = rows[1:]
    for number, row in enumerate(data, start=2):
        if len(row) != len(header):
            raise DataError(
                f"{path}: row {number} has {len(row)} values, the header has {len(header)}"
            )
    t = header.index(target)
    y, classes, task = _target(path, [row[t] for row in data], target)
    if text is not None:
        c = header.index(text)
        texts = [row[c] for row in data]
        empty = torch.zeros((len(data), 0), dtype=torch.long)
        return RawData(
            train=Split(empty, y),
            test=None,
            kind="tokens",
            classes=classes,
            task=task,
            scale=1.0,
            texts=texts,
        )
    features = [i for i in range(len(header)) if i != t]
    if not features:
        raise DataError(f"{path}: no feature columns besides the target '{target}'")
    x = torch.empty((len(data), len(features)), dtype=torch.float32)
    for r, row in enumerate(data):
        for j, i in enumerate(features):
            x[r, j] = _number(path, row[i], r + 2, header[i])
    return RawData(
        train=Split(x, y), test=None, kind="features", classes=classes, task=task, scale=1.0
    )


def _number(path: Path, cell: str, row: int, column: str) -> float:
    cell = cell.strip()
    if not cell:
        raise DataError(f"{path}: row {row}, column '{column}': missing value")
    try:
        value = float(cell)
    except ValueError:
        raise DataError(
            f"{path}: row {row}, column '{column}': '{cell[:20]}' is not a number"
        ) from None
    if not math.isfinite(value):
        raise DataError(f"{path}: row {row}, column '{column}': '{cell}' is not a finite number")
    return value


def _target(path: Path, cells: list[str], name: str) -> tuple[torch.Tensor, list[str], str]:
    cells = [c.strip() for c in cells]
    for row, cell in enumerate(cells, start=2):
        if not cell:
            raise DataError(f"{path}: row {row}, column '{name}': missing target")
    try:
        numbers = [float(c) for c in cells]
    except ValueError:
        numbers = None
    if numbers is not None and not all(
        n.is_integer() and "." not in c for n, c in zip(numbers, cells, strict=True)
    ):
        return torch.tensor(numbers, dtype=torch.float32), [], "regression"
    if numbers is not None:
        classes = [str(v) for v in sorted({int(n) for n in numbers})]
    else:
        classes = sorted(set(cells))
    index = {name: i for i, name in enumerate(classes)}
    key = (lambda c: str(int(float(c)))) if numbers is not None else (lambda c: c)
    return torch.tensor([index[key(c)] for c in cells], dtype=torch.long), classes, "classification"


def tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def build_vocabulary(texts: list[str], max_size: int) -> list[str]:
    """The most frequent words of the training texts, after the padding and unknown tokens."""
    counts = Counter(word for text in texts for word in tokenize(text))
    return [PAD, UNKNOWN, *(w for w, _ in counts.most_common(max(0, max_size - 2)))]


def encode(texts: list[str], vocabulary: list[str], length: int) -> torch.Tensor:
    """Token ids, truncated or padded (with 0) to `length`."""
    index = {word: i for i, word in enumerate(vocabulary)}
    out = torch.zeros((len(texts), length), dtype=torch.long)
    for r, text in enumerate(texts):
        ids = [index.get(word, 1) for word in tokenize(text)[:length]]
        if ids:
            out[r, : len(ids)] = torch.tensor(ids)
    return out
