"""Evaluation tab, Export dialog and files dropped on the window, on a really trained run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from studio.core.project.reading import load_project
from studio.core.train.loop import fit
from tests.conftest import TEMPLATES
from tests.gui.conftest import drop_files

DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")


@pytest.fixture
def trained_window(make_window, qtbot):
    """The default project's window with one finished one-epoch run in its runs folder."""
    project = load_project(DIGITS)
    project.training.epochs = 1
    fit(project, runs_dir=Path(os.environ["STUDIO_RUNS_DIR"]))
    window = make_window()
    window.model_actions.refresh_runs()  # listed off the GUI thread
    qtbot.waitUntil(lambda: window.views.evaluation.runs.count() == 1, timeout=10000)
    return window


def find(parent, kind, name):
    widget = parent.findChild(kind, name)
    assert widget is not None, name
    return widget


def test_evaluate_shows_matrix_table_and_worst_samples(trained_window, qtbot):
    window = trained_window
    view = window.views.evaluation
    assert find(window, QComboBox, "evaluationRun").count() == 1
    qtbot.mouseClick(find(window, QPushButton, "evaluateButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.result is not None, timeout=30000)
    assert "accuracy" in view.summary.text() and "val split" in view.summary.text()
    assert view.image.image.shape == (10, 10)
    assert (
        abs(view.image.image.sum(axis=1) - 1).max() < 1e-9
    )  # each true class's row shares sum to 1
    assert view.table.rowCount() == 10 and view.table.item(3, 0).text() == "3"
    assert view.worst.count() == len(view.result.worst) > 0
    assert not view.worst.item(0).icon().isNull()  # the sample's picture and what it looked at
    assert "→" in view.worst.item(0).text()
    assert view.worst.iconSize().width() == 2 * view.worst.iconSize().height()
    worst = view.result.worst[0]
    assert worst.why.heat.shape == (8, 8) and worst.why.target == worst.predicted
    assert f"Why it said {worst.predicted!r}: integrated gradients" in view.worst.item(0).toolTip()


def test_export_dialog_writes_a_verified_onnx_file(trained_window, qtbot):
    window = trained_window
    action = next(
        a for a in window.findChildren(type(window.menus.undo)) if a.objectName() == "exportAction"
    )
    action.trigger()
    qtbot.waitUntil(lambda: window.model_actions.export_dialog is not None, timeout=10000)
    dialog = window.model_actions.export_dialog
    assert dialog.isVisible()
    formats = find(dialog, QComboBox, "exportFormat")
    formats.setCurrentIndex(formats.findData("onnx"))
    assert not find(dialog, QCheckBox, "exportQuantize").isEnabled()
    path = Path(find(dialog, QWidget, "exportPath").text())
    assert path.suffix == ".onnx" and path.parent.name == "exports"
    find(dialog, QPushButton, "exportButton").click()
    result = find(dialog, QPlainTextEdit, "exportResult")
    qtbot.waitUntil(
        lambda: "✓" in result.toPlainText() or "✗" in result.toPlainText(), timeout=60000
    )
    assert "✓ onnxruntime" in result.toPlainText(), result.toPlainText()
    assert (
        path.is_file()
        and json.loads(path.with_name(path.name + ".json").read_text())["format"] == "onnx"
    )
    # int8 copy: the quantise box works for state_dict only and reports both sizes
    formats.setCurrentIndex(formats.findData("state_dict"))
    find(dialog, QCheckBox, "exportQuantize").setChecked(True)
    assert find(dialog, QWidget, "exportPath").text().endswith("-int8.pt")
    find(dialog, QPushButton, "exportButton").click()
    qtbot.waitUntil(
        lambda: "int8" in result.toPlainText() and "✓" in result.toPlainText(), timeout=60000
    )
    assert "float32" in result.toPlainText()
    dialog.close()


def test_dropping_images_on_the_window_predicts_them(trained_window, qtbot, tmp_path):
    window = trained_window
    images = np.load(Path(__file__).resolve().parents[2] / "resources" / "data" / "digits.npz")[
        "images"
    ]
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray((images[i].astype(float) * 255 / 16).astype(np.uint8)).save(paths[-1])
    drop_files(window, paths)
    qtbot.waitUntil(lambda: window.model_actions.prediction_dialog is not None, timeout=30000)
    dialog = window.model_actions.prediction_dialog
    table = dialog.table
    assert table.rowCount() == 3 and table.item(0, 0).text() == "digit0.png"
    assert "%" in table.item(0, 1).text() and not table.item(0, 0).icon().isNull()
    assert table.horizontalHeaderItem(2).text() == "Why"
    why = table.item(0, 2)
    assert not why.icon().isNull() and why.toolTip().startswith("integrated gradients, for ")
    dialog.close()


def test_evaluate_without_runs_says_train_first(make_window, qtbot):
    window = make_window()
    window.model_actions.evaluate()
    qtbot.waitUntil(lambda: "train first" in window.statusBar().currentMessage(), timeout=10000)
    assert not find(window, QPushButton, "evaluateButton").isEnabled()
    QApplication.processEvents()


def test_export_dialog_says_why_an_export_failed_and_writes_nothing(
    trained_window, qtbot, tmp_path
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    window = trained_window
    window.model_actions.open_export_dialog()
    qtbot.waitUntil(lambda: window.model_actions.export_dialog is not None, timeout=10000)
    dialog = window.model_actions.export_dialog
    find(dialog, QWidget, "exportPath").setText(str(blocker / "model.pt"))
    find(dialog, QPushButton, "exportButton").click()
    result = find(dialog, QPlainTextEdit, "exportResult")
    qtbot.waitUntil(lambda: "✗" in result.toPlainText(), timeout=30000)
    assert (
        "nothing was written" in result.toPlainText() and "cannot write to" in result.toPlainText()
    )
    assert find(dialog, QPushButton, "exportButton").isEnabled()  # ready for another try
    dialog.close()


def test_a_tables_worst_rows_say_which_column_decided_them(make_window, qtbot, tmp_path):
    from tests.datafiles import write_penguins

    write_penguins(tmp_path / "penguins.csv")
    project = {
        "studio": 1,
        "name": "penguins",
        "data": {"source": "csv", "options": {"path": "penguins.csv", "target": "species"}},
        "model": {"layers": [{"type": "Linear", "args": {"out_features": 3}}]},
        "training": {"epochs": 1, "optimizer": {"type": "SGD", "args": {"lr": 0.001}}},
    }
    path = tmp_path / "penguins.json"
    path.write_text(json.dumps(project))
    fit(load_project(path), runs_dir=Path(os.environ["STUDIO_RUNS_DIR"]), base_dir=tmp_path)
    window = make_window(path)
    view = window.views.evaluation
    window.model_actions.evaluate()
    qtbot.waitUntil(lambda: view.result is not None, timeout=30000)
    assert view.worst.count() > 0  # one epoch at a tiny rate: plenty of mistakes
    worst, item = view.result.worst[0], view.worst.item(0)
    strongest = worst.why.features[0]
    assert f"{strongest['feature']}={strongest['value']}"[:20] in item.text()
    assert item.toolTip().startswith(f"Why it said {worst.predicted!r}: integrated gradients")


def test_runs_tab_sorts_filters_compares_overlays_opens_and_follows_a_growing_run(
    make_window, qtbot
):
    import shutil

    folder = Path(os.environ["STUDIO_RUNS_DIR"])
    made = []
    for lr, hidden in ((0.001, 64), (0.01, 64), (0.001, 128)):
        project = load_project(DIGITS)
        project.training.epochs = 1
        project.training.optimizer.args["lr"] = lr
        project.model.layers[1].args["out_features"] = hidden
        made.append(fit(project, runs_dir=folder).run_dir)
    window = make_window()
    view = window.views.runs
    window.views.show_tab(view)
    qtbot.waitUntil(lambda: view.model.rowCount() == 3, timeout=10000)
    assert set(view.model.varying) == {
        "training.optimizer.args.lr", "model.layers.1.args.out_features",
    }  # fmt: skip
    assert view.model.headerData(2, Qt.Orientation.Horizontal) == "Best"
    view.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    best = [view.proxy.data(view.proxy.index(i, 2), Qt.ItemDataRole.UserRole) for i in range(3)]
    assert best == sorted(best)
    view.filter.setText("0.01")
    assert view.proxy.rowCount() == 1 and "1 of 3 runs" in view.summary.text()
    view.filter.clear()
    by_folder = {view.proxy.data(view.proxy.index(i, 0)): i for i in range(3)}
    selection = view.table.selectionModel()
    flags = selection.SelectionFlag.Select | selection.SelectionFlag.Rows
    for run in made[:2]:
        selection.select(view.proxy.index(by_folder[run.name], 0), flags)
    qtbot.waitUntil(lambda: "lr: 0.001 -> 0.01" in view.diff.toPlainText(), timeout=10000)
    assert "training.optimizer.args.lr: 0.001 -> 0.01" in view.diff.toPlainText()
    qtbot.mouseClick(view.overlay_button, Qt.MouseButton.LeftButton)  # read in the background
    qtbot.waitUntil(lambda: len(window.views.plots.overlays) == 4, timeout=10000)  # val loss, acc
    assert window.views.bottom_tabs.currentWidget() is window.views.plots

    window.views.show_tab(view)
    selection.clearSelection()
    selection.select(view.proxy.index(by_folder[made[2].name], 0), flags)
    qtbot.mouseClick(view.open_button, Qt.MouseButton.LeftButton)
    assert window.document.path is None  # a new project, the run's folder left as it is
    assert window.document.project.model.layers[1].args["out_features"] == 128

    live = folder / f"{made[0].name}-live"
    shutil.copytree(made[0], live)
    lines = (live / "metrics.jsonl").read_text().splitlines()
    (live / "metrics.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # still writing
    from studio.core.runs.lock import RunLock

    with RunLock(live):  # as the process training it does
        qtbot.waitUntil(lambda: view.model.rowCount() == 4, timeout=10000)  # the next refresh
        assert "1 running" in view.summary.text()


def test_sweep_tab_runs_a_sweep_and_shows_its_trials_the_best_and_the_objective(
    make_window, qtbot, tmp_path
):
    project = json.loads(DIGITS.read_text())
    project["training"]["epochs"] = 1
    (tmp_path / "digits.json").write_text(json.dumps(project))
    sweep = {
        "studio_sweep": 1, "project": "digits.json", "trials": 3, "pruner": "none",
        "objective": {"metric": "val_acc", "direction": "maximize"},
        "space": {"training.optimizer.args.lr": {"log_uniform": [1e-3, 3e-2]}},
    }  # fmt: skip
    (tmp_path / "sweep.json").write_text(json.dumps(sweep))
    window = make_window()
    assert window.sweeps.open_sweep(tmp_path / "sweep.json")
    view = window.views.sweep
    assert window.views.bottom_tabs.currentWidget() is view
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    assert (
        window.sweeps.running() and view.stop_button.isEnabled() and not view.run_button.isEnabled()
    )
    qtbot.waitUntil(lambda: not window.sweeps.running(), timeout=120000)
    qtbot.waitUntil(
        lambda: (
            view.summary is not None
            and sum(t["state"] == "complete" for t in view.summary["trials"]) == 3
        ),
        timeout=10000,
    )
    assert view.table.rowCount() == 3 and "3 of 3 trials done" in view.status.text()
    best = view.summary["best"]
    assert best["value"] == max(t["value"] for t in view.summary["trials"])
    row = [t["number"] for t in view.summary["trials"]].index(best["number"])
    assert view.table.item(row, 0).toolTip() == "the best trial so far"
    assert len(view.points.data) == 3 and len(view.best_point.data) == 1
    view.table.selectRow(row)
    qtbot.mouseClick(view.trial_button, Qt.MouseButton.LeftButton)
    assert window.document.path is None
    lr = window.document.project.training.optimizer.args["lr"]
    assert lr == best["params"]["training.optimizer.args.lr"]


def test_a_bad_sweep_file_is_one_clear_message(make_window, tmp_path):
    sweep = {
        "studio_sweep": 1,
        "project": "missing.json",
        "space": {"training.epochs": {"choice": [1]}},
    }
    (tmp_path / "sweep.json").write_text(json.dumps(sweep))
    window = make_window()
    assert not window.sweeps.open_sweep(tmp_path / "sweep.json")
    assert "missing.json" in window.last_error and window.views.sweep.sweep is None
    assert window.findChild(QWidget, "errorBox").isVisible()


def test_stop_ends_a_sweep_as_ctrl_c_would_and_so_does_closing_the_window(
    make_window, qtbot, tmp_path
):
    project = json.loads(DIGITS.read_text())
    project["training"]["epochs"] = 500  # long enough to be stopped
    (tmp_path / "digits.json").write_text(json.dumps(project))
    sweep = {
        "studio_sweep": 1, "project": "digits.json", "trials": 2, "pruner": "none",
        "space": {"training.optimizer.args.lr": {"log_uniform": [1e-3, 3e-2]}},
    }  # fmt: skip
    (tmp_path / "sweep.json").write_text(json.dumps(sweep))
    runs = Path(os.environ["STUDIO_RUNS_DIR"])

    def trained_an_epoch(count: int) -> bool:
        metrics = list(runs.glob("*/metrics.jsonl"))
        return len(metrics) >= count and all('"event": "epoch"' in m.read_text() for m in metrics)

    window = make_window()
    assert window.sweeps.open_sweep(tmp_path / "sweep.json")
    view = window.views.sweep
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: trained_an_epoch(1), timeout=120000)
    qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.sweeps.running(), timeout=60000)
    assert window.sweeps.process.exitCode() == 130  # as studio sweep exits after Ctrl-C
    assert "failed" not in view.status.text() and view.run_button.isEnabled()
    (first,) = runs.glob("digits-mlp-*")
    assert (first / "checkpoints" / "last.pt").is_file()  # stopped after a batch

    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)  # on with the same study
    qtbot.waitUntil(lambda: trained_an_epoch(2), timeout=120000)
    window.document.undo_stack.setClean()
    assert window.close()  # closing stops it the same way, and waits for it
    assert not window.sweeps.running() and window.sweeps.process.exitCode() == 130
