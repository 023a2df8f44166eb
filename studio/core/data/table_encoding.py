"""The columns of a table as model features.

Each column's type is found on the training rows (or set by the user in `options.columns`):
numbers are kept (a missing cell gets the training median), categories become one-hot slots (with
one for values training never saw and, when training had blanks, one for missing), identifiers
(every value distinct) are ignored with a note. The encoding is plain JSON: it travels with the
run and every export, so prediction encodes raw rows exactly as training did. Standardising the
numbers is left to the dataset's Normalisation, like every other source's features.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

TYPES = ("number", "category", "ignore")  # what a user may set a column to
NUMBER_SHARE = 0.95  # a column is numeric when this share of its training values are numbers
MAX_CATEGORIES = 50  # one-hot slots for the most frequent values; the rest share "other"
MIN_ROWS_FOR_IDENTIFIER = 20  # fewer rows than this say nothing about "every value distinct"
WORKERS = os.cpu_count() or 1
BLOCK_ROWS = 16384  # rows encoded together: a block of the feature matrix stays in the cache
OTHER, MISSING = "(other)", "(missing)"  # slot names no real value is likely to have
DELIMITERS = ",\t;|"  # what separates the cells of a table file (detected)
# Cells that mean "no value" (pandas' own list, and "?" as UCI tables write it).
MISSING_TEXT = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null", "?",
)  # fmt: skip


@dataclass
class Column:
    name: str
    type: str  # number | category | ignore
    median: float | None = None  # numbers: what a missing cell becomes
    categories: list[str] = field(default_factory=list)  # one-hot slots, then OTHER (+ MISSING)
    note: str = ""

    @property
    def width(self) -> int:
        return {"number": 1, "category": len(self.categories), "ignore": 0}[self.type]


@dataclass
class TableEncoding:
    columns: list[Column]  # every column of the file but the target, in the file's order
    target: str
    missing: str = "impute"  # impute | drop
    notes: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return sum(column.width for column in self.columns)

    def one_hot_slots(self) -> list[int]:
        """The encoded positions that hold one-hot values (left as 0/1 by the normalisation)."""
        slots, at = [], 0
        for column in self.columns:
            if column.type == "category":
                slots += range(at, at + column.width)
            at += column.width
        return slots

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw rows (a frame with the columns by name; the target may be absent) as features."""
        cells = {}
        for column in self.columns:
            if column.type != "ignore":
                values = (
                    frame[column.name] if column.name in frame else pd.Series([None] * len(frame))
                )
                cells[column.name] = _Cells(values)
        return _assemble(self.columns, cells, len(frame))

    def describe(self) -> list[dict[str, Any]]:
        """A row a column, for the Data panel and `studio datasets`: name, type, width, note."""
        rows = [
            {"name": c.name, "type": c.type, "width": c.width, "note": c.note} for c in self.columns
        ]
        return [*rows, {"name": self.target, "type": "target", "width": 0, "note": ""}]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableEncoding:
        columns = [Column(**column) for column in data["columns"]]
        if not all(c.type in TYPES for c in columns):
            raise ValueError("unknown column type")
        return cls(
            columns, data["target"], data.get("missing", "impute"), list(data.get("notes", []))
        )


def encode_table(
    frame: pd.DataFrame,
    train_rows: np.ndarray,
    target: str,
    overrides: dict[str, str],
    missing: str,
) -> tuple[TableEncoding, np.ndarray]:
    """Each column's type and encoding learnt from the training rows, and every row encoded:
    each column is read once, for both."""
    names = list(frame.columns)

    def fit(name: str) -> Column:
        return _fit_column(name, cells[name], train_rows, overrides.get(name))

    with ThreadPoolExecutor(WORKERS) as pool:  # numpy lets go of the GIL in most of this
        cells = dict(zip(names, pool.map(lambda name: _Cells(frame[name]), names), strict=True))
        columns = list(pool.map(fit, names))
    notes = [f"column '{c.name}': {c.note}" for c in columns if c.note]
    filled = {
        c.name: int(cells[c.name].missing[train_rows].sum()) for c in columns if c.type != "ignore"
    }
    if missing == "impute" and sum(filled.values()):
        where = ", ".join(f"{name} {count}" for name, count in filled.items() if count)
        notes.append(
            f"{sum(filled.values())} missing cells in the training rows filled ({where}): numbers "
            f"with the training median, categories as '{MISSING}'"
        )
    encoding = TableEncoding(columns, target, missing, notes)
    return encoding, _assemble(columns, cells, len(frame))


class _Cells:
    """One column read once: each cell's number (NaN when missing or not a number), and each
    cell's index into the column's distinct category keys (computed once per distinct value)."""

    def __init__(self, values: pd.Series) -> None:
        self.values = values
        self.missing = values.isna().to_numpy()
        self._keyed: tuple[np.ndarray, list[str | None]] | None = None
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            codes, keys = self.keyed()
            parsed = [_number(k) for k in keys]
            numbers = np.array(parsed, dtype=np.float64)[codes]
        self.numbers = np.where(np.isfinite(numbers), numbers, np.nan)

    def keyed(self) -> tuple[np.ndarray, list[str | None]]:
        """Each cell's index into the distinct keys (category_key); the last key is None (missing)."""
        if self._keyed is None:
            codes, distinct = pd.factorize(self.values)
            self._keyed = codes.astype(np.int64), [category_key(v) for v in distinct] + [None]
        return self._keyed


def _fit_column(name: str, cells: _Cells, rows: np.ndarray, override: str | None) -> Column:
    if override == "ignore":
        return Column(name, "ignore", note="ignored (options.columns)")
    numbers, missing = cells.numbers[rows], cells.missing[rows]
    present = numbers[~missing]
    numeric = len(present) > 0 and (~np.isnan(present)).mean() >= NUMBER_SHARE
    if override == "number" or (override is None and numeric):
        if np.isnan(present).all():
            return Column(name, "ignore", note="no numbers in the training rows: ignored")
        if override is None and not missing.any() and _counts_rows(numbers):
            note = "distinct integers counting the rows: an identifier, ignored"
            return Column(name, "ignore", note=note)
        strays = int(np.isnan(present).sum())
        note = f"{strays} value(s) that are not numbers taken as missing" if strays else ""
        return Column(name, "number", median=float(np.nanmedian(numbers)), note=note)
    codes, keys = cells.keyed()
    if override is None and not missing.any() and _all_distinct(codes[rows]):
        note = "every value distinct: an identifier or free text, ignored"
        return Column(name, "ignore", note=note)
    tally = np.bincount(codes[rows][~missing], minlength=len(keys)).tolist()
    counts: dict[str, int] = {}
    for key, n in zip(keys, tally, strict=True):
        if key is not None and n:
            counts[key] = counts.get(key, 0) + n
    kept = sorted(sorted(counts, key=lambda k: (-counts[k], k))[:MAX_CATEGORIES])
    note = ""
    if len(counts) > MAX_CATEGORIES:
        note = f"{len(counts)} distinct values: the {MAX_CATEGORIES} most frequent kept, the rest are '{OTHER}'"
    slots = [*kept, OTHER] + ([MISSING] if missing.any() else [])
    return Column(name, "category", categories=slots, note=note)


def _assemble(columns: list[Column], cells: dict[str, _Cells], rows: int) -> np.ndarray:
    """The feature matrix: a number column a number, a category column its one-hot slots.
    Written a block of rows at a time, all columns of a block while it is in the cache."""
    parts = []  # (first position, values: numbers, or one-hot rows taken from an identity)
    at = 0
    for column in columns:
        if column.type == "number":
            numbers = cells[column.name].numbers
            parts.append((at, np.where(np.isnan(numbers), column.median, numbers), None))
        elif column.type == "category":
            slots = column.categories
            identity = np.eye(len(slots), dtype=np.float32)
            parts.append((at, _slots(cells[column.name], slots), identity))
        at += column.width
    out = np.empty((rows, at), dtype=np.float32)

    def fill(start: int) -> None:
        block, end = out[start : start + BLOCK_ROWS], start + BLOCK_ROWS
        for first, values, identity in parts:
            if identity is None:
                block[:, first] = values[start:end]
            else:
                block[:, first : first + len(identity)] = identity[values[start:end]]

    with ThreadPoolExecutor(WORKERS) as pool:  # numpy lets go of the GIL here
        list(pool.map(fill, range(0, rows, BLOCK_ROWS)))
    return out


def _slots(cells: _Cells, slots: list[str]) -> np.ndarray:
    """The one-hot slot of each cell: its own, OTHER for a value training never saw, MISSING (or
    OTHER when training had no blanks) for a blank."""
    codes, keys = cells.keyed()
    index = {slot: i for i, slot in enumerate(slots)}
    unseen = index[OTHER]
    blank = index.get(MISSING, unseen)
    lookup = np.array([blank if k is None else index.get(k, unseen) for k in keys], dtype=np.int64)
    return lookup[codes]


def _counts_rows(numbers: np.ndarray) -> bool:
    """Whole numbers, every one distinct, spanning about as many values as there are rows:
    row numbers (or a sample of them), an identifier. Distinct measurements are not."""
    n = len(numbers)
    if n < MIN_ROWS_FOR_IDENTIFIER or not np.all(numbers == np.round(numbers)):
        return False
    return bool(numbers.max() - numbers.min() + 1 <= 2 * n and len(np.unique(numbers)) == n)


def _all_distinct(codes: np.ndarray) -> bool:
    """Every value distinct (names, codes, free text), over enough rows to mean something."""
    return len(codes) >= MIN_ROWS_FOR_IDENTIFIER and not (np.bincount(codes) > 1).any()


def _number(value: Any) -> float:
    try:
        return float(str(value).strip())
    except ValueError:
        return float("nan")


def category_key(value: Any) -> str | None:
    """A category value as text, the same however the file was read: ' 7', '7.0' and 7 are all
    '7'; None for a missing cell. (Copied into exported Python scripts: plain Python only.)"""
    if value is None or value != value:  # None or NaN
        return None
    text = str(value).strip()
    if text in MISSING_TEXT:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    if number != number or number in (float("inf"), float("-inf")):
        return text
    return str(int(number)) if number == int(number) else repr(number)


def encode_row(columns: list[dict[str, Any]], row: dict[str, Any]) -> list[float]:
    """One raw row (column name -> cell text) as features, in plain Python: what an exported
    script does; it matches TableEncoding.encode (a test holds them to it)."""
    out: list[float] = []
    for column in columns:
        cell = row.get(column["name"])
        if column["type"] == "number":
            try:
                number = float(str(cell).strip()) if category_key(cell) is not None else None
            except ValueError:
                number = None
            finite = number is not None and number == number and abs(number) != float("inf")
            out.append(number if finite else column["median"])
        elif column["type"] == "category":
            slots = column["categories"]
            key = category_key(cell)
            if key is None and MISSING in slots:
                hot = slots.index(MISSING)
            else:
                hot = slots.index(key) if key in slots else slots.index(OTHER)
            out += [1.0 if i == hot else 0.0 for i in range(len(slots))]
    return out
