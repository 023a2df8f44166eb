"""Tables: load and encode a 1,000,000-row, 20-column mixed CSV (12 number columns with NA cells,
5 category columns with blanks, a row id, a year, a string target) through the studio's `csv`
source, against pandas' `read_csv` of the same file, in the same process. Rounds alternate; the
ratio compares medians. Goal: <= 2.0 (the studio reads with pandas, then types the columns on the
training rows, one-hot encodes the categories, fills the blanks and splits the data).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.core.data import load_dataset  # noqa: E402
from studio.core.project.spec import DataSpec  # noqa: E402

ROWS = 1_000_000
ROUNDS = 3


def write_table(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    columns: dict[str, np.ndarray] = {}
    for i in range(12):
        values = rng.normal(size=rows).round(4).astype(str)
        values[rng.random(rows) < 0.02] = "NA"
        columns[f"measure{i}"] = values
    for i in range(5):
        choices = np.array([f"kind{i}_{k}" for k in range(8 + i)])
        values = choices[rng.integers(0, len(choices), rows)]
        values[rng.random(rows) < 0.02] = ""
        columns[f"group{i}"] = values
    columns["id"] = np.arange(rows).astype(str)
    columns["year"] = rng.integers(1990, 2024, rows).astype(str)
    columns["species"] = np.array(["Adelie", "Gentoo", "Chinstrap"])[rng.integers(0, 3, rows)]
    names = list(columns)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(",".join(names) + "\n")
        for start in range(0, rows, 100_000):
            block = zip(*(columns[n][start : start + 100_000] for n in names), strict=True)
            handle.write("\n".join(",".join(row) for row in block) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        write_table(path, ROWS)
        spec = DataSpec("csv", options={"path": str(path), "target": "species"})
        pandas_times, studio_times = [], []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            pd.read_csv(path)
            pandas_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            dataset = load_dataset(spec)
            studio_times.append(time.perf_counter() - started)
        kinds = [row["type"] for row in dataset.table.describe()]
        print(
            f"{ROWS:,} rows x 20 columns ({path.stat().st_size / 2**20:.0f} MiB): "
            f"{kinds.count('number')} number, {kinds.count('category')} category, "
            f"{kinds.count('ignore')} ignored columns -> {dataset.input_shape[0]} features"
        )
        print(f"pandas read_csv:          {statistics.median(pandas_times):.2f} s  {pandas_times}")
        print(f"studio load + encode:     {statistics.median(studio_times):.2f} s  {studio_times}")
        ratio = statistics.median(studio_times) / statistics.median(pandas_times)
        print(f"ratio studio / pandas: {ratio:.2f}  (goal: <= 2.0)")


if __name__ == "__main__":
    main()
