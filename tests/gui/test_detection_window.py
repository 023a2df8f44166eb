"""An object detection project in the window: the data previewed with its boxes and counted in
images and boxes, mAP plotted after an epoch, the Evaluation tab's per-class AP and worst images
redrawn as the score slider moves, a dropped photo answered with its boxes drawn, the palette's
Detector entries with their weights choices, and the template."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QWidget

from studio.core.data.detection import colour
from tests.conftest import TEMPLATES
from tests.detection_files import CLASSES, scene, write_coco
from tests.gui.conftest import drop_files

DETECTOR = "fasterrcnn_mobilenet_v3_large_320_fpn"  # the smallest Faster R-CNN: ~3 images/s here


def find(window, name, kind=QWidget):
    widget = window.findChild(kind, name)
    assert widget is not None, name
    return widget


def _project(folder: Path) -> Path:
    """Twelve 64x64 scenes of squares and discs (COCO), an untrained detector for one epoch; a
    box is predicted at score 0.05, so even a detector this new draws some."""
    options = write_coco(folder / "shapes", count=12, size=64, seed=0)
    project = {
        "studio": 1,
        "name": "boxes",
        "data": {"source": "detection", "options": options, "batch_size": 4,
                 "val_fraction": 0.25, "threshold": 0.05},
        "model": {"layers": [{"type": "Detector", "args": {
            "name": DETECTOR, "num_classes": 2, "weights_backbone": None}}]},
        "training": {"epochs": 1, "loss": {"type": "DetectionLoss"},
                     "optimizer": {"type": "SGD", "args": {"lr": 0.01, "momentum": 0.9}},
                     "device": "cpu"},
    }  # fmt: skip
    path = folder / "boxes.json"
    path.write_text(json.dumps(project))
    return path


def _pixels(pixmap) -> np.ndarray:
    """A pixmap's RGB pixels."""
    image = pixmap.toImage().convertToFormat(pixmap.toImage().Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), -1)
    return rows[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


def _box_pixels(pixels: np.ndarray) -> int:
    """Pixels in a class's box colour: the outlines and captions drawn."""
    return sum(int((pixels == colour(c)).all(axis=2).sum()) for c in range(len(CLASSES)))


def _worst(view) -> list[tuple[str, np.ndarray]]:
    return [
        (
            view.worst.item(i).text(),
            _pixels(view.worst.item(i).icon().pixmap(view.worst.iconSize())),
        )
        for i in range(view.worst.count())
    ]


def test_a_detection_project_is_previewed_trained_plotted_evaluated_and_predicted(
    make_window, qtbot, tmp_path
):
    window = make_window(_project(tmp_path))
    status = find(window, "dataStatus")
    qtbot.waitUntil(lambda: "detection of 2 classes" in status.text(), timeout=30000)
    assert "train 9 images" in status.text() and "validation 3 images" in status.text()
    assert "boxes" in status.text() and "training boxes: square" in status.text()
    preview = find(window, "dataPreview")
    pictures = [c for c in preview.findChildren(QLabel) if c.pixmap() and not c.pixmap().isNull()]
    assert len(pictures) == 8  # two rows of four, larger than other previews
    assert all(c.pixmap().height() == 72 for c in pictures)
    assert any("square" in c.toolTip() for c in pictures)  # each says what it shows
    assert any(
        _box_pixels(_pixels(c.pixmap())) for c in pictures
    )  # boxes drawn in their class's colour
    legend = find(preview, "previewLegend", QLabel).text()
    assert "square" in legend and "disc" in legend
    counts = find(window, "classCounts").getPlotItem().titleLabel.text
    assert counts == "Training boxes per class"
    monitor = find(window, "monitorCombo")  # early stopping offers what the task reports
    assert "val_map" in [monitor.itemText(i) for i in range(monitor.count())]

    plots = window.views.plots
    assert plots.score[2] == "mAP"  # the task's plot before its first epoch
    qtbot.mouseClick(find(window, "trainButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.training.running, timeout=10000)
    assert plots.score[2] == "mAP"  # a new run's curves are cleared, not its title
    qtbot.waitUntil(lambda: not window.training.running, timeout=240000)
    plots.flush()
    assert plots.score[:2] == ("val_map50", "val_map")  # not a multi-label task's F1 and mAP
    assert plots.accuracy_plot.getPlotItem().titleLabel.text == "mAP"
    assert len(plots.val_acc.getData()[0]) == len(plots.train_acc.getData()[0]) == 1
    legend = plots.accuracy_plot.getPlotItem().legend
    assert [label.text for _, label in legend.items] == ["mAP50", "mAP"]

    view = window.views.evaluation
    window.model_actions.refresh_runs()
    qtbot.waitUntil(lambda: view.runs.count() == 1, timeout=10000)
    qtbot.mouseClick(find(window, "evaluateButton", QPushButton), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.result is not None, timeout=120000)
    summary = view.summary.text()
    assert "mAP " in summary and "mAP50" in summary and "mAP75" in summary, summary
    headers = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert headers == ["Class", "AP", "Recall", "Boxes"]
    assert [view.table.item(r, 0).text() for r in range(view.table.rowCount())] == CLASSES
    assert view.matrix_plot.isHidden() and not view.worst_box.isHidden()  # no confusion matrix
    assert view.worst.count() == len(view.result.worst) > 0
    assert any(image.predicted for image in view.result.worst)  # boxes to show and hide
    slider = find(view, "scoreThreshold")
    assert slider.isVisibleTo(view) and slider.value() == 5  # the run's threshold
    assert view.worst.iconSize().height() >= 100  # large enough to see the boxes on
    slider.setValue(0)
    every = _worst(view)
    slider.setValue(100)  # no box scores 1: only the true boxes (dashed) are left
    none = _worst(view)
    assert all(text.endswith(" 0 false") for text, _ in none), none[0][0]
    assert any(not text.endswith(" 0 false") for text, _ in every)
    assert any(
        _box_pixels(a) > _box_pixels(b) for (_, a), (_, b) in zip(every, none, strict=True)
    )  # the predicted boxes' outlines and captions went with them
    view.worst.itemDoubleClicked.emit(view.worst.item(0))
    larger = find(view, "boxImageDialog")
    assert larger.isVisible() and max(
        label.pixmap().height() for label in larger.findChildren(QLabel)
    ) >= 320  # fmt: skip
    larger.close()

    image, _, _ = scene(np.random.default_rng(3), 64)
    Image.fromarray(image).save(tmp_path / "photo.png")
    drop_files(window, [tmp_path / "photo.png"])
    qtbot.waitUntil(lambda: window.model_actions.prediction_dialog is not None, timeout=60000)
    table = window.model_actions.prediction_dialog.table
    assert table.horizontalHeaderItem(2).text() == "Boxes"
    answer = table.item(0, 1).text()
    assert " box" in answer and any(f"\n{name} " in answer for name in CLASSES), answer
    drawn = table.item(0, 2).icon().pixmap(table.iconSize())
    assert (
        drawn.height() == 144 and _box_pixels(_pixels(drawn)) > 0
    )  # the photo with its boxes drawn
    window.model_actions.prediction_dialog.close()


def test_the_palette_detectors_their_weights_choices_and_the_data_options_by_format(
    make_window, qtbot, tmp_path
):
    window = make_window(_project(tmp_path))
    qtbot.waitUntil(lambda: "detection" in find(window, "dataStatus").text(), timeout=30000)
    entry = next(
        item
        for item in window.views.palette.items()
        if item.data(0, Qt.ItemDataRole.UserRole) == "Detector:fasterrcnn_mobilenet_v3_large_fpn"
    )
    assert "box mAP 32.8" in entry.text(0) and "COCO box mAP 32.8" in entry.toolTip(0)
    window.layer_actions.add_at("Detector:fasterrcnn_mobilenet_v3_large_fpn", 0)
    layer = window.document.project.model.layers[0]
    assert layer.type == "Detector" and layer.args == {"name": "fasterrcnn_mobilenet_v3_large_fpn"}
    window.select_layer("0")
    whole = find(window, "backboneWeights").findChild(QComboBox, "backboneWeightsChoice")
    backbone = find(window, "detectorBackboneWeights").findChild(
        QComboBox, "detectorBackboneWeightsChoice"
    )
    assert [whole.itemText(i) for i in range(whole.count())] == [
        "DEFAULT", "COCO_V1", "none (backbone only)",
    ]  # fmt: skip
    assert whole.currentText() == "none (backbone only)"
    items = [backbone.itemText(i) for i in range(backbone.count())]
    assert "IMAGENET1K_V1" in items and items[-1] == "none (untrained)"
    backbone.setCurrentIndex(backbone.findText("none (untrained)"))
    backbone.activated.emit(backbone.currentIndex())
    assert window.document.project.model.layers[0].args["weights_backbone"] is None  # kept
    whole.setCurrentIndex(whole.findText("COCO_V1"))
    whole.activated.emit(whole.currentIndex())
    assert window.document.project.model.layers[0].args["weights"] == "COCO_V1"
    assert not find(window, "detectorBackboneWeights").isEnabled()  # the whole model's hold it

    panel = window.views.data_panel

    def shown() -> set[str]:
        return {n for n, e in panel.option_editors.items() if e.isVisibleTo(panel.options)}

    assert shown() == {"format", "images", "annotations", "size"}
    fmt = panel.option_editors["format"].findChild(QComboBox)
    fmt.setCurrentIndex(fmt.findText("yolo"))
    assert shown() == {"format", "images", "labels", "classes", "size"}
    labels = panel.option_editors["labels"].parentWidget()
    assert labels.findChild(QPushButton).text() == "Browse…"  # a folder (YOLO's labels)
    fmt.setCurrentIndex(fmt.findText("voc"))
    assert shown() == {"format", "root", "year", "size"}
    qtbot.waitUntil(lambda: not window.training.loading, timeout=30000)


def test_the_detection_template_opens_from_the_file_menu(make_window, qtbot):
    window = make_window()
    template = next(t for t in TEMPLATES if t.name == "detect-objects.json")
    project = json.loads(template.read_text())
    assert project["training"]["optimizer"] == {
        "type": "SGD", "args": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0001},
    }  # fmt: skip
    action = next(
        a
        for a in window.menuBar().findChildren(QAction)
        if a.text() == "Detect objects in my images"
    )
    action.trigger()
    qtbot.waitUntil(lambda: not window.training.loading, timeout=30000)
    assert window.report is not None and window.report.error is None
    layer = window.document.project.model.layers[0]
    assert layer.type == "Detector" and layer.args["weights_backbone"] == "DEFAULT"
    assert window.document.project.data.source == "detection"
    assert find(window, "datasetPicker").currentData() == "detection"
    editors = window.views.data_panel.option_editors
    assert editors["annotations"].isVisibleTo(window.views.data_panel.options)
    assert "images" in find(window, "dataStatus").text()  # its folders are the user's to fill in
