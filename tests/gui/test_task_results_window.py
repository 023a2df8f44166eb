"""The Evaluation tab and the Predictions dialog for tasks beyond one class a sample: a
multi-label run shows its F1, mAP and a row a label; a regression of two targets a row a target;
neither leaves the previous run's matrix on screen."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from studio.core.project.reading import load_project
from studio.core.train.loop import fit
from tests.cli.test_multilabel import LABELS, _mlp, _project, _write_label_table, _write_two_scales


def _evaluate(window, qtbot):
    view = window.views.evaluation
    window.model_actions.refresh_runs()
    qtbot.waitUntil(lambda: view.runs.count() == 1, timeout=10000)
    view.result = None
    qtbot.mouseClick(window.findChild(QPushButton, "evaluateButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.result is not None, timeout=60000)
    return view


def _headers(view) -> list[str]:
    return [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]


def _trained(project: str, folder: Path) -> str:
    spec = load_project(project)
    spec.training.epochs = 8
    fit(spec, runs_dir=folder / "runs", base_dir=folder)
    return project


def test_a_multi_label_run_shows_its_scores_a_row_a_label(
    make_window, qtbot, tmp_path, monkeypatch
):
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    _write_label_table(tmp_path / "tags.csv", count=300)
    data = {"source": "csv", "options": {"path": "tags.csv", "target": "tags"}}
    window = make_window(_trained(_project(tmp_path, data, _mlp(3)), tmp_path))
    view = _evaluate(window, qtbot)
    summary = view.summary.text()
    assert "micro F1" in summary and "mAP" in summary and "threshold 0.5" in summary, summary
    assert _headers(view) == ["Label", "Prec.", "Recall", "F1", "AP", "N"]
    assert [view.table.item(r, 0).text() for r in range(view.table.rowCount())] == list(LABELS)
    assert view.matrix_plot.isHidden() and view.worst_box.isHidden()  # no matrix for label sets


def test_a_regression_of_two_targets_shows_a_row_a_target(
    make_window, qtbot, tmp_path, monkeypatch
):
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    _write_two_scales(tmp_path / "two.csv", rows=300)
    data = {"source": "csv", "options": {"path": "two.csv", "target": ["big", "small"]}}
    window = make_window(_trained(_project(tmp_path, data, _mlp(2), loss="MSELoss"), tmp_path))
    view = _evaluate(window, qtbot)
    assert "R²" in view.summary.text() and "means over the targets" in view.summary.text()
    assert _headers(view) == ["Target", "MSE", "MAE", "R²"]
    assert [view.table.item(r, 0).text() for r in range(view.table.rowCount())] == ["big", "small"]
    assert view.matrix_plot.isHidden()
