"""A segmentation project in the window: the data previewed with its masks, the dense output in
the stack, mIoU plotted live, the Evaluation tab's per-class IoU and worst images, and a dropped
photo answered with its mask."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from tests.gui.conftest import drop_files
from tests.segmentation_files import CLASSES, scene, write_mask_folders

ROOT = Path(__file__).resolve().parents[2]


def find(window, name, kind=QWidget):
    widget = window.findChild(kind, name)
    assert widget is not None, name
    return widget


def _unet_project(folder: Path) -> Path:
    """The U-Net example over a mask folder beside it, trained two short epochs."""
    write_mask_folders(folder, count=24, size=32)
    project = json.loads((ROOT / "examples" / "shapes-unet.json").read_text())
    project["training"]["epochs"] = 2
    path = folder / "unet.json"
    path.write_text(json.dumps(project))
    return path


def test_a_segmentation_project_is_previewed_trained_plotted_evaluated_and_predicted(
    make_window, qtbot, tmp_path
):
    window = make_window(_unet_project(tmp_path))
    status = find(window, "dataStatus")
    qtbot.waitUntil(lambda: "segmentation into 3 classes" in status.text(), timeout=30000)
    monitor = find(window, "monitorCombo")  # early stopping offers what the task reports
    assert [monitor.itemText(i) for i in range(monitor.count())] == [
        "val_loss", "train_loss", "val_miou", "val_pixel_acc",
    ]  # fmt: skip
    assert monitor.currentText() == "val_miou"  # the template's
    preview = find(window, "dataPreview")
    pictures = [c for c in preview.findChildren(QLabel) if c.pixmap() and not c.pixmap().isNull()]
    assert len(pictures) >= 6  # images with their masks blended in
    assert any("square" in c.toolTip() for c in pictures)  # each says the classes it shows
    stack = find(window, "layerStack")
    last = stack.topLevelItem(stack.topLevelItemCount() - 1)
    assert "[3, 32, 32]" in " ".join(last.text(c) for c in range(stack.columnCount()))

    qtbot.mouseClick(find(window, "trainButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.training.running, timeout=120000)
    plots = window.views.plots
    qtbot.waitUntil(lambda: plots.val_acc.getData()[0] is not None, timeout=5000)
    assert len(plots.val_acc.getData()[0]) == 2  # the mIoU of each epoch
    assert plots.score[1] == "val_miou"  # the second plot is the task's: mIoU
    assert "mIoU" in plots.accuracy_plot.getPlotItem().titleLabel.text

    view = window.views.evaluation
    window.model_actions.refresh_runs()
    qtbot.waitUntil(lambda: view.runs.count() == 1, timeout=10000)
    qtbot.mouseClick(find(window, "evaluateButton", QPushButton), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.result is not None, timeout=60000)
    assert "mIoU" in view.summary.text() and "pixel accuracy" in view.summary.text()
    assert view.table.horizontalHeaderItem(1).text() == "IoU"
    assert [view.table.item(r, 0).text() for r in range(view.table.rowCount())] == CLASSES
    assert view.image.image.shape == (3, 3)  # the pixel confusion matrix
    assert view.worst.count() == len(view.result.worst) > 0
    icon = view.worst.item(0).icon().pixmap(view.worst.iconSize())
    assert icon.height() == view.worst.iconSize().height() == 80  # large enough to see
    assert icon.width() == 3 * icon.height()  # image, true mask, predicted mask
    assert "mIoU" in view.worst.item(0).text()

    image, _ = scene(np.random.default_rng(3), 32)
    Image.fromarray(image).save(tmp_path / "photo.png")
    drop_files(window, [tmp_path / "photo.png"])
    qtbot.waitUntil(lambda: window.model_actions.prediction_dialog is not None, timeout=30000)
    table = window.model_actions.prediction_dialog.table
    answer = table.item(0, 1).text()
    assert "%" in answer and any(name in answer for name in CLASSES), answer
    assert not table.item(0, 2).icon().isNull()  # the predicted mask over the photo
    window.model_actions.prediction_dialog.close()


def test_a_segmentation_model_from_the_palette_with_its_weights_choice(
    make_window, qtbot, tmp_path
):
    from PySide6.QtWidgets import QComboBox

    window = make_window(_unet_project(tmp_path))
    qtbot.waitUntil(lambda: "segmentation" in find(window, "dataStatus").text(), timeout=30000)
    window.layer_actions.add_at("Segmenter:lraspp_mobilenet_v3_large", 0)
    layer = window.document.project.model.layers[0]
    assert layer.type == "Segmenter" and layer.args == {"name": "lraspp_mobilenet_v3_large"}
    window.select_layer("0")
    choice = find(window, "backboneWeights").findChild(QComboBox, "backboneWeightsChoice")
    items = [choice.itemText(i) for i in range(choice.count())]
    assert items[0] == "DEFAULT" and "COCO_WITH_VOC_LABELS_V1" in items
    choice.setCurrentIndex(choice.findText("none (untrained)"))
    choice.activated.emit(choice.currentIndex())
    assert window.document.project.model.layers[0].args["weights"] is None
