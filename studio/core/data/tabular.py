"""CSV and TSV tables: feature columns of any kind and a target, or a text column for sequence
models.

The file is read with pandas (the delimiter detected, a UTF-8 BOM dropped, quoted fields kept
whole, blanks and NA as missing cells). A text or integer target is a classification (class names
kept, sorted); a float target is a regression; a row without a target is dropped. Cells of labels
separated by `;` and lists of target columns are table_targets.py's. Feature columns
are typed and encoded after the split, on the training rows (table_encoding.py); a text column is
tokenised after the split, on the training rows only.
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from studio.core.data import table_targets
from studio.core.data.context import LoadContext
from studio.core.data.dataset import RawData, Split
from studio.core.data.table_encoding import DELIMITERS, MISSING_TEXT
from studio.core.errors import DataError

PAD, UNKNOWN = "<pad>", "<unk>"
_WORD = re.compile(r"[\w']+")
PROBE_ROWS = 2000  # rows read first to see which columns hold words
_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def load(options: dict, ctx: LoadContext) -> RawData:
    path = ctx.resolve(options["path"])
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    header, delimiter = read_header(path)
    targets = table_targets.target_columns(options["target"], header, path)
    text = options["text"]
    if text is not None and text not in header:
        raise DataError(f"{path}: no text column '{text}' (columns: {', '.join(header)})")
    listed = not isinstance(options["target"], str) and options["target"] is not None
    words = (text,) if text else ()
    if listed:  # several target columns (table_targets.py)
        frame = read_table(path, delimiter, text=words)
        frame, y, classes, task, notes = table_targets.several_targets(
            frame, targets, ctx.task, path
        )
    else:
        frame = read_table(path, delimiter, text=words, categories=(targets[0],))
        frame, y, classes, task, notes = _one_target(frame, targets[0], options, ctx, path)
    if text is not None:
        empty = torch.zeros((len(frame), 0), dtype=torch.long)
        texts = frame[text].fillna("").astype(str).tolist()
        return RawData(
            Split(empty, y), None, "tokens", classes, task, 1.0, texts=texts, notes=notes
        )
    features = frame.drop(columns=targets)
    if features.columns.empty:
        raise DataError(f"{path}: no feature columns besides the target '{', '.join(targets)}'")
    if options["missing"] == "drop":
        ignored = {n for n, kind in (options["columns"] or {}).items() if kind == "ignore"}
        kept = features.drop(columns=[c for c in features.columns if c in ignored])
        complete = kept.notna().all(axis=1).to_numpy(copy=True)
        if not complete.all():
            notes.append(f"{int((~complete).sum())} row(s) with a missing value dropped")
            features, y = features[complete].reset_index(drop=True), y[torch.from_numpy(complete)]
        if not len(features):
            raise DataError(f"{path}: every row has a missing value (try options.missing: impute)")
    empty = torch.zeros((len(features), 0), dtype=torch.float32)
    return RawData(
        Split(empty, y),
        None,
        "features",
        classes,
        task,
        1.0,
        notes=notes,
        table=features,
        target=", ".join(targets),
        targets=targets if listed else None,
    )


def _one_target(frame: pd.DataFrame, target: str, options: dict, ctx: LoadContext, path: Path):
    """The rows kept, y, the classes, the task and notes of a single target column: classes,
    values, or labels separated by `;` (table_targets.py)."""
    notes = []
    codes, distinct = pd.factorize(frame[target])
    stripped = [str(v).strip() for v in distinct]
    if table_targets.is_label_cells(stripped, ctx.task):  # "cat;dog": blank is no label
        y, labels = table_targets.label_sets(codes, stripped)
        table_targets.check_labels(y, labels, path, target)
        return frame, y, labels, "multilabel", notes
    blank = pd.Series(np.array([v == "" for v in stripped] + [True])[codes])
    if blank.all():
        raise DataError(f"{path}: column '{target}' (the target) has no values")
    if blank.any():
        notes.append(f"{int(blank.sum())} row(s) without a {target} dropped")
        frame = frame[~blank].reset_index(drop=True)
    wanted = _wanted_task(target, options["columns"] or {}, ctx.task, path)
    y, classes, task = _target(
        codes[~blank.to_numpy()], stripped, f"{path}: column '{target}' (the target)", wanted
    )
    _say_task(task, wanted, classes, len(np.unique(codes)), stripped, notes, f"{path}", target)
    return frame, y, classes, task, notes


def read_header(path: Path) -> tuple[list[str], str]:
    """The column names and the delimiter (comma, tab, semicolon or bar; tab for .tsv files).
    The header is read as CSV, however long it is and whatever its quoted names hold (commas,
    quotes, line breaks); the delimiter is told from the first 64 KiB."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            head = handle.read(1 << 16)
            delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff(head)
            handle.seek(0)
            rows = (r for r in csv.reader(handle, delimiter=delimiter) if any(c.strip() for c in r))
            header, first = next(rows, None), next(rows, None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read as a text table ({exc})") from None
    if header is None:
        raise DataError(f"{path}: empty (expected a header row and at least one data row)")
    header = [h.strip() for h in header]
    if first is None:
        raise DataError(f"{path}: has a header ({_names(header)}) but no data rows")
    return header, delimiter


def _names(header: list[str], shown: int = 6) -> str:
    """A header in a message: its first names, and how many more (a message stays one line)."""
    said = ", ".join(name[:40].replace("\n", " ") for name in header[:shown])
    return said + (f", ... ({len(header) - shown} more)" if len(header) > shown else "")


def _sniff(head: str) -> str:
    try:
        return csv.Sniffer().sniff(head, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def read_table(
    path: Path, delimiter: str, text: tuple[str, ...] = (), categories: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Every row of the file: the `text` columns as strings, the `categories` columns and any
    column whose first rows are not numbers as pandas categories (parsed straight into codes,
    the fast way to read words), the others as pandas infers them."""
    options = {
        "sep": delimiter,
        "encoding": "utf-8-sig",
        "skipinitialspace": True,
        "keep_default_na": False,
        "na_values": list(MISSING_TEXT),
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mixed types in a column: handled by its encoding
            probe = pd.read_csv(path, nrows=PROBE_ROWS, **options)
            words = [c for c in probe.columns if not pd.api.types.is_numeric_dtype(probe[c])]
            kinds = {name: "category" for name in [*words, *categories]}
            kinds.update({name: str for name in text})
            frame = pd.read_csv(path, dtype=kinds, **options)
    except pd.errors.ParserError as exc:
        found = _FIELDS.search(str(exc))
        if found:
            expected, line, saw = found.groups()
            raise DataError(
                f"{path}: row {line} has {saw} values, the header has {expected}"
            ) from None
        raise DataError(f"{path}: cannot be read as a table ({str(exc).strip()[:160]})") from None
    except (pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path}: cannot be read as a table ({exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


MAX_TARGET = 1e18  # float32 training squares the error: (1e19)² is past float32's 3.4e38


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_values(y: torch.Tensor, what: str) -> None:
    """Regression values the float32 loss can take: finite, and small enough to square."""
    finite = torch.isfinite(y)
    if not finite.all():
        row = int((~finite).nonzero()[0])
        raise DataError(
            f"{what}: row {row + 1} holds {float(y[row]):g}; a regression needs finite numbers "
            f"of at most {MAX_TARGET:g} (float32: larger ones overflow)"
        )
    largest = float(y.abs().max())
    if largest > MAX_TARGET:
        raise DataError(
            f"{what}: values as large as {largest:.3g} make the squared error overflow in float32; "
            f"scale the column (divide it by {10 ** math.floor(math.log10(largest) - 3):.0e}) "
            "or take its logarithm"
        )


MANY_CLASSES = 100  # more distinct whole numbers than this in a target: a value, not a class


def _wanted_task(target: str, columns: dict, task: str | None, path: Path) -> str | None:
    """The task the project asks for: data.task, or the target's kind in options.columns
    ("number": a regression, "category": classes); None leaves it to the values."""
    kind = columns.get(target)
    tasks = {"number": "regression", "category": "classification", None: None}
    if kind not in tasks:
        raise DataError(f"{path}: options.columns: the target '{target}' cannot be {kind!r}")
    said = tasks[kind]
    if task is not None and said is not None and said != task:
        raise DataError(
            f"{path}: data.task says {task} but options.columns makes '{target}' a {kind}"
        )
    return task or said


def _say_task(task, wanted, classes, distinct, texts, notes, path: str, target: str) -> None:
    """A note when whole numbers were read as a regression; one class is no classifier."""
    if wanted is None and task == "regression" and not any("." in t for t in texts):
        notes.append(
            f"{target}: {distinct} distinct whole numbers, read as a regression "
            '(data.task "classification" makes them classes)'
        )
    if task == "classification" and len(classes) < 2:
        raise DataError(
            f"{path}: column '{target}' (the target) holds one class ({classes[0][:40]}); a "
            'classifier needs at least two (or, for numbers, a regression: data.task "regression")'
        )


def _target(
    codes: np.ndarray, distinct: list[str], what: str, wanted: str | None = None
) -> tuple[torch.Tensor, list[str], str]:
    """Class indices and names, or regression values, from each row's index into the distinct
    target texts. Unless `wanted` says, numbers with a decimal point are values, and so are
    whole numbers with more than MANY_CLASSES distinct values; words and other whole numbers
    are classes."""
    used = {int(i): distinct[i] for i in np.unique(codes)}
    try:
        numbers = {i: float(v) for i, v in used.items()}
    except ValueError:
        numbers = None
    if wanted == "regression" and numbers is None:
        word = next(v for v in used.values() if not _is_number(v))
        raise DataError(f"{what}: holds words ({word[:40]!r}); a regression needs numbers")
    whole = numbers is not None and all(
        numbers[i].is_integer() and "." not in v for i, v in used.items()
    )
    if numbers is not None and (
        wanted == "regression" or (wanted is None and (not whole or len(used) > MANY_CLASSES))
    ):
        values = np.zeros(len(distinct), dtype=np.float64)  # float32 once checked: no overflow
        values[list(numbers)] = list(numbers.values())
        y = torch.from_numpy(values[codes])
        _check_values(y, what)
        return y.float(), [], "regression"
    if numbers is not None and not whole:  # classes asked for: named by their text
        numbers = None
    names = {i: str(int(n)) for i, n in numbers.items()} if numbers is not None else used
    if numbers is not None:
        classes = [str(v) for v in sorted({int(n) for n in numbers.values()})]
    else:
        classes = sorted(set(names.values()))
    index = {name: c for c, name in enumerate(classes)}
    lookup = np.zeros(len(distinct), dtype=np.int64)
    lookup[list(names)] = [index[name] for name in names.values()]
    return torch.from_numpy(lookup[codes]), classes, "classification"


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
