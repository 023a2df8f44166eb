"""The Runs table with 500 runs: listing a runs folder (`studio runs`, read off the GUI thread
in the window) and filling, sorting and filtering the table on the GUI thread. Each run is a
copy of one real 20-epoch digits run, its metrics.jsonl health and step events included.
Goal: the GUI thread's share well under a frame budget's worth of work per refresh (< 100 ms)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.core.project.reading import load_project  # noqa: E402
from studio.core.runs.listing import list_runs  # noqa: E402
from studio.core.train.loop import fit  # noqa: E402

RUNS = 500


def main() -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from studio.gui.views.runs_view import RunsView

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        project = load_project(ROOT / "resources" / "templates" / "digits-mlp.json")
        one = fit(project, runs_dir=folder / "one").run_dir
        size = (one / "metrics.jsonl").stat().st_size
        for i in range(RUNS):
            target = folder / "runs" / f"{one.name}-{i:03d}"
            target.mkdir(parents=True)
            for name in ("project.json", "metrics.jsonl"):
                shutil.copy(one / name, target / name)
        started = time.perf_counter()
        rows = list_runs(folder / "runs")
        listed = time.perf_counter() - started
        view = RunsView()
        view.resize(1000, 500)
        view.show()
        app.processEvents()
        started = time.perf_counter()
        view.set_rows(rows)
        app.processEvents()
        filled = time.perf_counter() - started
        again = list_runs(folder / "runs")
        again[0].status = "running"  # a later refresh in which one run moved
        started = time.perf_counter()
        view.set_rows(again)
        app.processEvents()
        refilled = time.perf_counter() - started
        started = time.perf_counter()
        view.set_rows(again)  # one in which nothing moved
        app.processEvents()
        unchanged = time.perf_counter() - started
        started = time.perf_counter()
        view.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
        app.processEvents()
        sorted_in = time.perf_counter() - started
        started = time.perf_counter()
        view.filter.setText("completed 0.001")
        app.processEvents()
        filtered = time.perf_counter() - started
    print(f"{RUNS} runs, metrics.jsonl of {size / 1024:.0f} KiB each")
    print(f"listing (a worker thread): {listed * 1000:.0f} ms")
    print(f"GUI thread: first fill {filled * 1000:.0f} ms (column widths measured once), "
          f"a refresh {refilled * 1000:.0f} ms, an unchanged one {unchanged * 1000:.1f} ms, "
          f"sort {sorted_in * 1000:.0f} ms, filter {filtered * 1000:.0f} ms "
          "(goal: a refresh, sort, filter < 100 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
