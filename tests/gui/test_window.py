"""The desktop app through its widgets (objectName), offscreen, with real torch and real files."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTreeWidget,
)

from studio.core.project.reading import load_project
from studio.core.project.spec import save_project
from studio.core.runs.metrics import read_metrics
from studio.core.train.events import describe
from studio.gui.settings import recent_files
from tests.conftest import TEMPLATES, minimal_project
from tests.gui.conftest import answer_next_box

DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")
AUTOMATION_NAMES = {
    "layerPalette": QTreeWidget, "layerStack": QTreeWidget, "layerForm": object, "datasetPicker": QComboBox,
    "deviceSelector": QComboBox, "epochsSpin": QSpinBox, "trainButton": QPushButton, "pauseButton": QPushButton,
    "stopButton": QPushButton, "trainProgress": QProgressBar, "lossPlot": object, "accuracyPlot": object,
}  # fmt: skip


def find(window, name):
    from PySide6.QtWidgets import QWidget

    widget = window.findChild(QWidget, name)
    assert widget is not None, name
    return widget


def points(curve) -> int:
    x, _ = curve.getData()
    return 0 if x is None else len(x)


def rows(window) -> list[str]:
    tree = find(window, "layerStack")
    return [tree.topLevelItem(i).text(1) for i in range(tree.topLevelItemCount())]


def test_window_has_every_automation_name_and_the_default_project(make_window):
    window = make_window()
    for name, kind in AUTOMATION_NAMES.items():
        assert isinstance(find(window, name), kind), name
    assert rows(window) == ["Flatten", "Linear", "ReLU", "Dropout", "Linear"]
    assert "Digits MLP" in window.windowTitle()
    tree = find(window, "layerStack")
    assert tree.topLevelItem(4).text(3) == "[10]" and tree.topLevelItem(1).text(4) == "4,160"


def test_palette_adds_layers_and_filter_narrows_it(make_window, qtbot):
    window = make_window()
    palette = find(window, "layerPalette")
    gelu = next(i for i in window.views.palette.items() if i.text(0) == "GELU")
    assert gelu.toolTip(0).endswith("Applies the Gaussian Error Linear Units function.")
    find(window, "layerStack").setCurrentItem(find(window, "layerStack").topLevelItem(1))
    palette.itemActivated.emit(gelu, 0)
    assert rows(window) == ["Flatten", "Linear", "GELU", "ReLU", "Dropout", "Linear"]
    assert find(window, "layerStack").topLevelItem(2).text(3) == "[64]"
    window.views.palette.filter.setText("pool2d")
    visible = [i.text(0) for i in window.views.palette.items() if not i.isHidden()]
    assert visible and all("pool2d" in name.lower() for name in visible)


def test_keyboard_reorder_delete_duplicate_and_undo_back_to_the_file_byte_for_byte(
    make_window, tmp_path, qtbot
):
    original = tmp_path / "digits.json"
    save_project(load_project(DIGITS), original)
    window = make_window(original)
    tree = find(window, "layerStack")
    tree.setCurrentItem(tree.topLevelItem(2))
    tree.setFocus()
    actions = window.layer_actions.actions
    actions["down"].trigger()
    assert rows(window) == ["Flatten", "Linear", "Dropout", "ReLU", "Linear"]
    actions["duplicate"].trigger()
    actions["delete"].trigger()
    actions["delete"].trigger()
    assert rows(window) == ["Flatten", "Linear", "Dropout", "ReLU"]  # duplicate, then both deleted
    window.layer_actions.add("BatchNorm1d")
    window.layer_actions.set_argument("1", "out_features", 32)
    assert rows(window) == ["Flatten", "Linear", "Dropout", "ReLU", "BatchNorm1d"]
    assert window.document.dirty and window.windowTitle().startswith("*")
    while window.document.undo_stack.canUndo():
        window.menus.undo.trigger()
    window.files.save()
    assert original.read_bytes() == (tmp_path / "digits.json").read_bytes()
    assert original.read_text() == load_project(DIGITS).to_json()
    while window.document.undo_stack.canRedo():
        window.menus.redo.trigger()
    assert rows(window) == ["Flatten", "Linear", "Dropout", "ReLU", "BatchNorm1d"]
    assert window.document.project.model.layers[1].args["out_features"] == 32


def test_cut_and_paste_moves_a_layer(make_window):
    window = make_window()
    window.select_layer("3")
    window.layer_actions.cut()
    window.select_layer("0")
    window.layer_actions.paste()
    assert rows(window) == ["Flatten", "Dropout", "Linear", "ReLU", "Linear"]


def test_shape_error_turns_the_row_red_and_the_fix_clears_it(make_window, write_project):
    path = write_project(
        minimal_project(
            [
                {"type": "Conv2d", "args": {"out_channels": 4, "kernel_size": 3}},
                {"type": "ReLU"},
                {"type": "Linear", "args": {"in_features": 999, "out_features": 10}},
            ],
            [1, 8, 8],
        )
    )
    window = make_window(path)
    tree = find(window, "layerStack")
    bad = tree.topLevelItem(2)
    assert bad.background(1).color().name() == "#5c1f24" and "insert Flatten" in bad.toolTip(1)
    assert not window.views.stack.error_bar.isHidden()
    assert window.views.stack.fix_button.text() == "Fix: insert Flatten before it"
    window.views.stack.fix_button.click()
    assert rows(window) == ["Conv2d", "ReLU", "Flatten", "Linear"]
    assert window.report.error.path == "3" and "set in_features to 144" in window.report.error.fix
    window.views.stack.fix_button.click()
    assert window.report.error is None and window.views.stack.error_bar.isHidden()
    assert (
        tree.topLevelItem(3).text(3) == "[10]"
        and tree.topLevelItem(3).background(1).color().name() != "#5c1f24"
    )


def test_form_marks_bad_values_and_never_applies_them(make_window, qtbot):
    window = make_window()
    window.select_layer("3")  # Dropout: p is a number typed in a line edit
    editor = window.views.form.editors["p"]
    line = editor.findChild(QLineEdit)
    before = window.document.text()
    line.setText("lots")
    line.editingFinished.emit()
    assert line.property("invalid") is True and "expected" in line.toolTip()
    assert window.document.text() == before
    line.setText("0.25")
    line.editingFinished.emit()
    assert line.property("invalid") is False
    assert window.document.project.model.layers[3].args["p"] == 0.25
    window.select_layer("1")
    spin = window.views.form.editors["out_features"].findChild(QSpinBox)
    assert spin.minimum() == 1  # a size below 1 cannot even be typed
    spin.setValue(20)
    assert window.document.project.model.layers[1].args["out_features"] == 20
    auto = window.views.form.editors["in_features"].findChild(QCheckBox, "autoCheck")
    assert "auto (64)" in auto.text()


def test_changing_the_dataset_sets_the_input_shape(make_window, qtbot):
    window = make_window()
    picker = find(window, "datasetPicker")
    picker.setCurrentIndex(picker.findData("spirals"))
    qtbot.waitUntil(lambda: window.document.project.model.input_shape == [2], timeout=20000)
    assert window.report.error is None and window.views.stack.tree.topLevelItem(1).text(3) == "[64]"
    assert "sample shape [2]" in window.views.data_panel.status.text()


def test_device_list_holds_the_cpu(make_window):
    window = make_window()
    devices = find(window, "deviceSelector")
    entries = [devices.itemData(i) for i in range(devices.count())]
    assert entries[0] == "auto" and "cpu" in entries
    cpu = devices.itemText(entries.index("cpu"))
    cores = os.cpu_count() or 1
    if cores > 1:  # the window keeps a core for itself, and says so
        assert f"{cores - 1} of {cores} threads: one is kept for the window" in cpu, cpu
    else:  # one core: torch has it, and nothing is said to be kept
        assert "1 thread" in cpu and "kept" not in cpu, cpu


def test_train_two_epochs_fills_the_progress_bar_and_both_plots(make_window, qtbot, tmp_path):
    window = make_window()
    find(window, "epochsSpin").setValue(2)
    qtbot.mouseClick(find(window, "trainButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.training.running, timeout=60000)
    progress = find(window, "trainProgress")
    assert progress.value() == progress.maximum() > 0
    qtbot.waitUntil(
        lambda: points(window.views.plots.val_acc) == 2, timeout=2000
    )  # the redraw timer
    assert (
        points(window.views.plots.smooth) >= 2
        and points(window.views.plots.val_loss) == 2
        and points(window.views.plots.train_acc) == 2
    )
    assert "completed" in progress.format()
    (run,) = (tmp_path / "runs").iterdir()  # the same run directory as `studio train`
    assert (run / "metrics.jsonl").exists() and (run / "checkpoints" / "last.pt").exists()
    # the log says what the terminal says: one formatter for both
    said = [describe(e, 2) for e in read_metrics(run) if describe(e, 2)]
    logged = find(window, "trainLog").toPlainText().splitlines()
    assert said and [line for line in logged if line in said] == said


def test_garbage_cycles_are_collected_on_the_gui_thread_only(make_window, qtbot):
    """The training thread allocates all the time: were it to run the cycle collector, a cycle
    holding a Python QObject would be destroyed there (see studio/gui/collector.py)."""
    import gc
    import threading

    window = make_window()
    threads = []

    def seen(phase, _info) -> None:
        if phase == "start":
            threads.append(threading.current_thread().name)

    gc.callbacks.append(seen)
    try:
        find(window, "epochsSpin").setValue(3)
        window.train()
        qtbot.waitUntil(lambda: not window.training.running, timeout=60000)
        qtbot.waitUntil(lambda: len(threads) > 0, timeout=5000)  # the collector's own timer
    finally:
        gc.callbacks.remove(seen)
    assert set(threads) == {"MainThread"}, threads


def test_stop_ends_the_run_after_its_batch_and_keeps_a_checkpoint(make_window, qtbot, tmp_path):
    window = make_window()
    find(window, "epochsSpin").setValue(5000)
    window.train()
    qtbot.waitUntil(lambda: len(window.views.plots.steps) > 1, timeout=30000)
    qtbot.mouseClick(find(window, "stopButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.training.running, timeout=10000)
    assert "stopped" in find(window, "trainProgress").format()
    assert find(window, "trainButton").isEnabled()
    (run,) = (tmp_path / "runs").iterdir()
    stop = next(e for e in read_metrics(run) if e["event"] == "stop")
    assert stop["reason"] == "stopped"  # mid-epoch, or (a digits epoch is short) at its end:
    assert re.fullmatch(r"stopped (at epoch \d+, step \d+|after epoch \d+)", stop["message"])
    assert (run / "checkpoints" / "last.pt").is_file()  # resumable from where it stopped


def test_closing_mid_training_stops_and_waits_for_the_worker(make_window, qtbot):
    window = make_window()
    find(window, "epochsSpin").setValue(5000)
    window.train()
    qtbot.waitUntil(lambda: len(window.views.plots.steps) > 0, timeout=30000)
    assert [task.name for task in window.tasks.running()] == ["train"]
    window.document.undo_stack.setClean()
    assert window.close()
    assert window.tasks.running() == []


def test_open_save_round_trip_and_recent_files(make_window, tmp_path):
    window = make_window()
    window.layer_actions.add("Tanh")
    target = tmp_path / "mine.json"
    window.document.path = target
    assert window.files.save()
    assert load_project(target) == window.document.project
    assert not window.document.dirty and str(target) in recent_files()
    other = make_window()
    assert other.files.open_project(target)
    assert other.document.project == window.document.project


def test_bad_project_file_opens_nothing_and_says_why(make_window, write_project):
    path = write_project(
        '{"studio": 1, "data": {"source": "digits"}, "model": {"layers": [{"type": "Conv4d"}]}}'
    )
    window = make_window(path)
    assert "model.layers[0].type: unknown layer 'Conv4d'" in window.last_error
    assert (
        window.document.path is None and rows(window)[0] == "Flatten"
    )  # the default project instead


def test_autosave_is_offered_after_a_crash(make_window, qtbot, tmp_path):
    crashed = make_window()
    crashed.select_layer("4")
    crashed.layer_actions.add("Tanh")
    edited = crashed.document.project
    crashed.document.autosave()  # what the timer does; then the process dies: no close, no cleanup
    saved = json.loads((tmp_path / "autosave.json").read_text())
    assert saved["project"]["model"]["layers"][-1]["type"] == "Tanh"
    seen = answer_next_box(QMessageBox.StandardButton.Yes, "recoverBox")
    recovered = make_window()  # the next start
    qtbot.waitUntil(lambda: bool(seen), timeout=10000)
    qtbot.waitUntil(lambda: recovered.document.project == edited, timeout=10000)
    assert recovered.document.dirty and "Recover" in seen[0]
    recovered.document.undo_stack.setClean()
    assert recovered.close()
    assert not (tmp_path / "autosave.json").exists()  # a clean close leaves no copy behind


def test_an_error_in_the_worker_is_shown_and_the_window_stays_usable(
    make_window, qtbot, write_project, tmp_path
):
    (tmp_path / "t.csv").write_text("a,b\n1,0\n2,1\n3,0\n4,1\n")
    project = minimal_project([{"type": "Linear", "args": {"out_features": 2}}], [1])
    project["data"] = {"source": "csv", "options": {"path": "t.csv"}}
    window = make_window(write_project(project))
    (tmp_path / "t.csv").write_text("a,b\n1,0\n2,1,5\n")  # broken after the preview loaded
    window.train()
    qtbot.waitUntil(lambda: not window.training.running, timeout=30000)
    assert "row 3 has 3 values" in window.last_error
    assert find(window, "trainButton").isEnabled()
    for box in QApplication.topLevelWidgets():
        if isinstance(box, QMessageBox):
            box.close()
    (tmp_path / "t.csv").write_text("a,b\n" + "\n".join(f"{i},{i % 2}" for i in range(20)))
    find(window, "epochsSpin").setValue(1)
    window.train()
    qtbot.waitUntil(lambda: not window.training.running, timeout=30000)
    assert "completed" in find(window, "trainProgress").format()


@pytest.mark.parametrize("template", [t.name for t in TEMPLATES])
def test_every_template_opens_without_a_shape_error(make_window, template):
    window = make_window()
    window.files.new_from_template(next(t for t in TEMPLATES if t.name == template))
    assert window.report is not None and window.report.error is None


def test_dropping_a_palette_layer_on_the_stack_inserts_it_there(make_window):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QDropEvent

    window = make_window()
    gelu = next(i for i in window.views.palette.items() if i.text(0) == "GELU")
    mime = window.views.palette.tree.mimeData([gelu])
    tree = find(window, "layerStack")
    target = tree.visualItemRect(tree.topLevelItem(2)).center()
    event = QDropEvent(
        QPointF(target),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    tree.dropEvent(event)
    assert rows(window) == ["Flatten", "Linear", "GELU", "ReLU", "Dropout", "Linear"]
    window.menus.undo.trigger()
    assert rows(window) == ["Flatten", "Linear", "ReLU", "Dropout", "Linear"]


def test_editing_a_dataset_option_keeps_its_editor(make_window, qtbot):
    window = make_window()
    picker = find(window, "datasetPicker")
    picker.setCurrentIndex(picker.findData("spirals"))
    qtbot.waitUntil(lambda: not window.training.loading, timeout=20000)
    editor = window.views.data_panel.option_editors["samples"]
    editor.findChild(QSpinBox).setValue(600)
    assert window.document.project.data.options["samples"] == 600
    assert (
        window.views.data_panel.option_editors["samples"] is editor
    )  # not rebuilt under the user's typing


def test_a_core_that_cannot_load_is_said_in_the_window_not_a_hang(make_window, monkeypatch):
    from studio.core.catalogue import layers

    def broken():
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(layers, "catalogue", broken)
    window = make_window()
    assert window.document is None
    assert "could not be loaded" in window.centralWidget().text()
    box = window.findChild(QMessageBox, "errorBox")
    assert box.isVisible() and "torchvision::nms" in box.text()
    box.close()


def test_augmentation_arguments_are_edited_in_place_and_undone(make_window, qtbot):
    window = make_window()
    panel = window.views.data_panel
    adder = find(window, "addAugment")
    adder.activated.emit(adder.findText("RandomRotation"))
    assert [a.type for a in window.document.project.data.augment] == ["RandomRotation"]
    find(window, "augmentList").setCurrentRow(0)
    editor = panel.augment_editors["degrees"]
    qtbot.waitUntil(lambda: editor.isVisibleTo(panel), timeout=2000)
    field = editor.findChild(QLineEdit)
    field.setText("25")
    field.editingFinished.emit()
    assert window.document.project.data.augment[0].args["degrees"] == 25
    assert panel.augment_editors["degrees"] is editor  # kept while the user edits it
    assert "degrees=25" in find(window, "augmentList").item(0).text()
    window.document.undo_stack.undo()
    assert window.document.project.data.augment[0].args["degrees"] == 10.0
    assert field.text() == "10.0"  # the editor follows the undo


def test_dragging_a_row_within_the_stack_moves_it(make_window):
    """The stack's own row drag ends in the same drop handler: the row moves there, undoably."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QDropEvent

    window = make_window()
    tree = find(window, "layerStack")
    tree.setCurrentItem(tree.topLevelItem(3))  # Dropout, the row being dragged
    mime = tree.mimeData([tree.topLevelItem(3)])
    target = tree.visualItemRect(tree.topLevelItem(1)).center()
    event = QDropEvent(
        QPointF(target),
        Qt.DropAction.MoveAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    tree.dropEvent(event)
    assert rows(window) == ["Flatten", "Dropout", "Linear", "ReLU", "Linear"]
    window.menus.undo.trigger()
    assert rows(window) == ["Flatten", "Linear", "ReLU", "Dropout", "Linear"]


def test_closing_after_an_edit_is_silent(tmp_path):
    """Edit, close, answer Discard, quit: nothing on stderr (a lambda connected to the undo stack
    used to fire while Qt tore the window down: 'Signal source has been deleted')."""
    script = textwrap.dedent("""
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication, QMessageBox
        from studio.gui.app import create_main_window

        app = QApplication([])
        window = create_main_window()
        window.show()

        def discard():
            for box in QApplication.topLevelWidgets():
                if isinstance(box, QMessageBox) and box.isVisible():
                    box.button(QMessageBox.StandardButton.Discard).click()
                    return
            QTimer.singleShot(20, discard)

        def edit_and_close():
            window.layer_actions.add("Tanh")
            QTimer.singleShot(20, discard)
            window.close()
            app.quit()

        QTimer.singleShot(100, edit_and_close)
        app.exec()
        print("closed", window.document.dirty)
    """)
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "STUDIO_AUTOSAVE": str(tmp_path / "a.json"),
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0 and "closed True" in result.stdout, result.stderr[-1500:]
    noise = [line for line in result.stderr.splitlines() if "propagateSizeHints" not in line]
    assert noise == []


def _table_project(folder, name: str, target: str, out_features: int):
    """A project over `<name>.csv` in `folder` (its input shape left to the table's columns)."""
    project = minimal_project([{"type": "Linear", "args": {"out_features": out_features}}])
    project["data"] = {"source": "csv", "options": {"path": f"{name}.csv", "target": target}}
    del project["model"]["input_shape"]
    path = folder / f"{name}.json"
    path.write_text(json.dumps(project))
    return path


def test_a_table_shows_its_column_types_and_a_type_can_be_changed(make_window, qtbot, tmp_path):
    from studio.gui.views.column_table import ColumnTypesTable
    from tests.datafiles import write_penguins

    write_penguins(tmp_path / "penguins.csv")
    window = make_window(_table_project(tmp_path, "penguins", "species", out_features=3))
    table = window.findChild(ColumnTypesTable, "columnTypes")
    qtbot.waitUntil(lambda: table.isVisible() and table.rowCount() == 8, timeout=20000)
    names = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert names[:2] == ["island", "bill_length_mm"] and names[-1] == "species"
    assert table.cellWidget(0, 1).currentText() == "auto (category)"
    assert table.cellWidget(1, 1).currentText() == "auto (number)"
    assert table.item(7, 1).text() == "target"
    assert window.document.project.model.input_shape == [13]
    year = table.cellWidget(6, 1)
    year.setCurrentIndex(year.findData("ignore"))
    assert window.document.project.data.options["columns"] == {"year": "ignore"}
    qtbot.waitUntil(lambda: window.document.project.model.input_shape == [12], timeout=20000)
    assert table.type_of("year") == "ignore" and "options.columns" in table.item(6, 2).text()
    while window.document.undo_stack.canUndo():
        window.document.undo_stack.undo()
    assert "columns" not in window.document.project.data.options


def test_the_task_is_shown_and_can_be_changed_in_the_data_panel(make_window, qtbot, tmp_path):
    from tests.datafiles import write_csv

    rows = [[i % 7, (i * 3) % 5, 100 + 37 * i] for i in range(300)]  # 300 whole-number prices
    write_csv(tmp_path / "prices.csv", ["a", "b", "price"], rows)
    window = make_window(_table_project(tmp_path, "prices", "price", out_features=1))
    task, status = find(window, "dataTask"), find(window, "dataStatus")
    qtbot.waitUntil(lambda: "regression" in status.text(), timeout=20000)
    assert task.currentText() == "From the data (regression)"
    task.setCurrentIndex(task.findData("classification"))
    assert window.document.project.data.task == "classification"
    qtbot.waitUntil(lambda: "300 classes" in status.text(), timeout=20000)  # the data, reloaded
    assert task.itemText(0) == "From the data (classification)"
    while window.document.undo_stack.canUndo():
        window.document.undo_stack.undo()
    assert window.document.project.data.task is None and task.currentData() is None
    assert "task" not in window.document.project.data.to_dict()  # the file as it was


def test_pretrained_models_from_the_palette_with_their_form_and_fine_tuning(
    make_window, qtbot, tmp_path
):
    from tests.datafiles import write_image_folder

    write_image_folder(tmp_path / "photos", per_class=10, size=(60, 48))
    project = minimal_project([{"type": "Linear", "args": {"out_features": 2}}])
    project["data"] = {"source": "image_folder", "options": {"path": "photos"}}
    del project["model"]["input_shape"]
    path = tmp_path / "photos.json"
    path.write_text(json.dumps(project))
    window = make_window(path)
    palette = window.views.palette
    group = palette.pretrained_group()
    entries = {
        group.child(i).data(0, Qt.ItemDataRole.UserRole): group.child(i)
        for i in range(group.childCount())
    }
    assert {"Backbone:resnet18", "Backbone:vit_b_16", "Backbone:regnet_y_400mf"} <= set(entries)
    assert "11.7M" in entries["Backbone:resnet18"].text(0) and "69.8%" in entries[
        "Backbone:resnet18"
    ].text(0)
    palette.filter.setText("mobilenet_v3")
    shown = [i.data(0, Qt.ItemDataRole.UserRole) for i in palette.items() if not i.isHidden()]
    assert (
        shown
        == [
            "Backbone:mobilenet_v3_large",
            "Backbone:mobilenet_v3_small",
            "Segmenter:deeplabv3_mobilenet_v3_large",  # torchvision's segmentation models too
            "Segmenter:lraspp_mobilenet_v3_large",
            "Detector:fasterrcnn_mobilenet_v3_large_320_fpn",  # and its detection models
            "Detector:fasterrcnn_mobilenet_v3_large_fpn",
            "Detector:ssdlite320_mobilenet_v3_large",
        ]
        and group.isExpanded()
    )
    assert "mIoU 57.9" in entries["Segmenter:lraspp_mobilenet_v3_large"].text(0)
    window.layer_actions.add_at("Backbone:mobilenet_v3_small", 0)
    # the weights want 224x224 crops: the photos are loaded again that way, the head takes [1024]
    qtbot.waitUntil(
        lambda: window.document.project.model.input_shape == [3, 224, 224], timeout=30000
    )
    assert rows(window) == ["Backbone", "Linear"] and window.report.error is None
    backbone = find(window, "layerStack").topLevelItem(0)
    assert backbone.text(3) == "[1024]" and not backbone.isExpanded()
    parts = [backbone.child(i).text(1) for i in range(backbone.childCount())]
    assert (
        parts == ["features", "avgpool", "classifier"]
        and not backbone.child(0).flags() & Qt.ItemFlag.ItemIsSelectable
    )
    window.select_layer("0")
    weights = find(window, "backboneWeights")
    choice = weights.findChild(QComboBox, "backboneWeightsChoice")
    assert [choice.itemText(i) for i in range(choice.count())][:2] == ["DEFAULT", "IMAGENET1K_V1"]
    choice.setCurrentIndex(choice.findText("none (untrained)"))
    choice.activated.emit(choice.currentIndex())
    assert window.document.project.model.layers[0].args["weights"] is None
    find(window, "backboneFrozen").findChild(QCheckBox).setChecked(False)
    assert window.document.project.model.layers[0].args["frozen"] is False
    find(window, "fineTune").setChecked(True)
    assert window.document.project.training.fine_tune.to_dict() == {
        "frozen_epochs": 1,
        "lr_factor": 0.01,
    }
    find(window, "fineTune").setChecked(False)
    # untrained weights need no preparation: the photos come back at their own size
    qtbot.waitUntil(lambda: window.document.project.model.input_shape == [3, 48, 60], timeout=30000)
    find(window, "epochsSpin").setValue(1)
    window.train()
    qtbot.waitUntil(lambda: not window.training.running, timeout=60000)
    assert "completed" in find(window, "trainProgress").format()


def test_compile_is_a_training_choice_whose_warm_up_the_progress_bar_names(
    make_window, qtbot, tmp_path
):
    project = minimal_project(
        [{"type": "Flatten"}, {"type": "Linear", "args": {"out_features": 10}}], epochs=1
    )
    path = tmp_path / "compiled.json"
    path.write_text(json.dumps(project))
    window = make_window(path)
    find(window, "compileModel").setChecked(True)
    assert window.document.project.training.compile is True
    window.train()
    progress, log = find(window, "trainProgress"), find(window, "trainLog")
    qtbot.waitUntil(lambda: "compiling the model" in progress.format(), timeout=30000)
    qtbot.waitUntil(lambda: not window.training.running, timeout=120000)
    assert "completed" in progress.format()
    assert "compiled the model in" in log.toPlainText()


def test_layer_health_view_heat_map_histograms_and_a_warning_badge_on_the_stack(
    make_window, qtbot, tmp_path
):
    import numpy as np
    from PySide6.QtCore import QPointF

    project = json.loads(DIGITS.read_text())
    project["training"].update(
        epochs=1, optimizer={"type": "SGD", "args": {"lr": 50}}, health={"every": 2}
    )
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(project))
    window = make_window(path)
    window.train()
    qtbot.waitUntil(lambda: not window.training.running, timeout=60000)
    view = find(window, "layerHealthView")
    qtbot.waitUntil(lambda: len(view.samples) == 12, timeout=5000)  # steps 1, 3, ... 23
    assert view.layers == [
        ("0", "Flatten"),
        ("1", "Linear"),
        ("2", "ReLU"),
        ("3", "Dropout"),
        ("4", "Linear"),
    ]
    measure = find(window, "healthMeasure")
    assert [measure.itemText(i) for i in range(measure.count())] == [
        "Gradient norm", "Dead share", "Update ratio",
    ]  # fmt: skip
    for name in ("Gradient norm", "Dead share", "Update ratio"):
        measure.setCurrentText(name)
        shown = view.heat.image
        assert shown.shape == (5, 12)
        np.testing.assert_array_equal(shown, view.values(name))
    assert np.isfinite(view.values("Dead share")[2]).all()  # the ReLU's row
    assert np.isnan(view.values("Dead share")[1]).all()  # a Linear has no dead units
    stack = window.views.stack
    assert stack.warning_badge("1").startswith("⚠") and stack.warning_badge("4").startswith("⚠")
    assert stack.warning_badge("3") == ""
    status = find(window, "healthStatus")
    assert status.isVisible() and "layer warnings" in status.text()
    assert "layer 2 (ReLU)" in status.toolTip() and "never fire" in status.toolTip()
    assert "warning: layer 1 (Linear)" in find(window, "trainLog").toPlainText()
    stack.select("2")  # a click in the stack selects the layer in the view
    assert view.selected == "2" and "Layer 2 (ReLU)" in view.selected_label.text()
    assert len(view.act_bars.opts["x"]) == 32 and view.act_image.image.shape == (32, 12)
    window.views.show_tab(view)
    plot = view.heat_plot
    box = plot.getPlotItem().vb
    where = plot.mapFromScene(box.mapViewToScene(QPointF(6.0, 4.5)))  # the last layer's row
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert view.selected == "4" and stack.current_path() == "4"


def test_check_and_find_learning_rate_from_the_training_panel_with_an_undoable_rate(
    make_window, qtbot
):
    window = make_window()
    results = find(window, "checkResults")
    qtbot.mouseClick(find(window, "checkButton"), Qt.MouseButton.LeftButton)
    assert not find(window, "checkButton").isEnabled()  # one at a time
    qtbot.waitUntil(lambda: results.isVisible() and results.count() == 6, timeout=60000)
    texts = [results.item(i).text() for i in range(results.count())]
    assert texts[0].startswith("✓ finite_inputs") and all(t.startswith("✓") for t in texts)
    assert any("near chance (ln 10 = 2.303)" in t for t in texts)
    assert find(window, "checkButton").isEnabled()

    plot = find(window, "lrFindPlot")
    qtbot.mouseClick(find(window, "lrFindButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(plot.isVisible, timeout=60000)
    panel = window.views.training_panel.diagnostics
    xs, ys = panel.curve.getData()
    assert len(xs) > 20 and panel.suggestion is not None
    assert panel.suggested.value() == pytest.approx(math.log10(panel.suggestion))
    use = find(window, "useLrButton")
    assert f"{panel.suggestion:.2e}" in use.text()
    qtbot.mouseClick(use, Qt.MouseButton.LeftButton)
    rate = float(f"{panel.suggestion:.3g}")
    assert window.document.project.training.optimizer.args["lr"] == rate
    assert find(window, "lrEdit").text() == str(rate)
    window.document.undo_stack.undo()
    assert window.document.project.training.optimizer.args["lr"] == 0.001
    assert find(window, "lrEdit").text() == "0.001"
