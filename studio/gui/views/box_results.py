"""A detection's evaluation in the Evaluation tab: mAP, mAP50 and mAP75, a row a class (AP, recall,
true boxes), and the worst images with their true boxes dashed and the predicted boxes solid, those
scored at or above the threshold the slider sets, drawn again (with their missed and false boxes
counted again) as it moves."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from studio.gui.views.images import boxes_picture, sample_pixmap

BOX_COLUMNS = (
    ("Class", ""),
    ("AP", "average precision over IoU 0.5 to 0.95 (COCO's, torchmetrics')"),
    ("Recall", "the share of this class's true boxes found (up to 100 boxes an image, IoU 0.5 "
               "to 0.95)"),
    ("Boxes", "true boxes of this class in the split"),
)  # fmt: skip
WORST_TITLE = "Worst images (true boxes dashed, predicted solid)"
WORST_TIP = (
    "The images with the most missed and false boxes at the run's threshold, most first: their "
    "true boxes dashed, the predicted boxes solid with their class and score"
)
ICON = 112  # a worst image's height in the list
LARGE = 320  # at least, double-clicked


def summary(result, head: str) -> str:
    extra = result.extra
    return (
        f"{head} · mAP {extra['map']:.3f} · mAP50 {extra['map50']:.3f} · mAP75 {extra['map75']:.3f}"
    )


def class_rows(result):
    for row in result.extra["per_class"]:
        yield [row["class"], f"{row['ap']:.3f}", f"{row['recall']:.3f}", f"{row['boxes']:,}"]


class ScoreThreshold(QWidget):
    """The score a predicted box needs to be drawn (0 to 1, in hundredths): `changed(score)`."""

    changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal, objectName="scoreThreshold")
        self.slider.setRange(0, 100)
        self.slider.setPageStep(10)
        self.slider.setMinimumWidth(90)
        self.slider.setMaximumWidth(180)
        self.slider.setToolTip(
            "Predicted boxes scored below this are not drawn (missed and false boxes are "
            "counted at it); the evaluation's own threshold is data.threshold"
        )
        self.label = QLabel()
        self.label.setMinimumWidth(32)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addStretch(1)
        layout.addWidget(QLabel("Scored ≥"))
        layout.addWidget(self.slider)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._moved)

    def score(self) -> float:
        return self.slider.value() / 100

    def set_score(self, score: float) -> None:
        """Move the slider without announcing it (a new result draws itself)."""
        self.slider.blockSignals(True)
        self.slider.setValue(round(score * 100))
        self.slider.blockSignals(False)
        self.label.setText(f"{self.score():.2f}")

    def _moved(self, _value: int) -> None:
        self.label.setText(f"{self.score():.2f}")
        self.changed.emit(self.score())


def show_worst_boxes(worst_list: QListWidget, worst, classes: list[str], threshold: float) -> None:
    """Each worst image with its true boxes (dashed) and the predicted boxes scored at least
    `threshold` (solid, with class and score), its missed and false boxes counted at it."""
    worst_list.clear()
    worst_list.setIconSize(QSize(ICON, ICON))
    worst_list.setGridSize(QSize(ICON + 24, ICON + 40))  # two lines of caption
    worst_list.setWordWrap(True)
    for image in worst:
        picture, missed, false, shown = _drawn(image, classes, threshold, ICON)
        item = QListWidgetItem(f"#{image.index}: {missed} missed, {false} false")
        item.setToolTip(
            f"Image {image.index} of the split. {_boxes_text(image, shown)} Double-click: larger."
        )
        pixmap = sample_pixmap(picture, ICON, picture.shape[1])
        if pixmap is not None:
            item.setIcon(QIcon(pixmap))
        worst_list.addItem(item)


def show_larger(parent: QWidget, image, classes: list[str], threshold: float) -> QDialog:
    """One worst image drawn as large as the screen allows (its own size, at least 320 pixels
    tall), in a window of its own."""
    dialog = QDialog(parent, objectName="boxImageDialog")
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.setWindowTitle(f"Image {image.index} of the split")
    room = dialog.screen().availableGeometry().height() - 160
    height = max(min(room, image.view.shape[0]), min(room, LARGE))
    picture, missed, false, boxes = _drawn(image, classes, threshold, height)
    shown = QLabel()
    shown.setPixmap(sample_pixmap(picture, height, picture.shape[1]))
    words = QLabel(
        f"At score ≥ {threshold:.2f}: {missed} missed, {false} false. {_boxes_text(image, boxes)}"
    )
    words.setWordWrap(True)
    layout = QVBoxLayout(dialog)
    layout.addWidget(shown, 0, Qt.AlignmentFlag.AlignCenter)
    layout.addWidget(words)
    dialog.show()
    return dialog


def _drawn(image, classes: list[str], threshold: float, height: int):
    """An image drawn `height` pixels tall with its true boxes dashed and the predicted boxes
    scored at least `threshold` solid; its missed and false boxes, and the predicted boxes shown."""
    shown = [p for p in image.predicted if p["score"] >= threshold]
    missed, false = _mistakes(image.true_boxes, shown, classes)
    true = [(_id(classes, t["class"]), t["box"], "") for t in image.true_boxes]
    predicted = [
        (_id(classes, p["class"]), p["box"], f"{p['class']} {p['score']:.2f}") for p in shown
    ]
    return boxes_picture(image.view, predicted, true, height=height), missed, false, shown


def _id(classes: list[str], name: str) -> int:
    return classes.index(name) if name in classes else 0


def _mistakes(true_boxes, predicted, classes: list[str]) -> tuple[int, int]:
    """(missed, false) boxes as the evaluation counts them (the core's matching)."""
    import torch

    from studio.core.use.detection import mistakes

    def tensors(boxes, scored: bool) -> dict:
        out = {
            "boxes": torch.tensor([b["box"] for b in boxes], dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor([_id(classes, b["class"]) for b in boxes], dtype=torch.long),
        }
        if scored:
            out["scores"] = torch.tensor([b["score"] for b in boxes], dtype=torch.float32)
        return out

    return mistakes(tensors(predicted, True), tensors(true_boxes, False))


def _boxes_text(image, shown, most: int = 12) -> str:
    """`True boxes (dashed): disc, square; predicted (solid): disc 0.91.`"""
    true = ", ".join(t["class"] for t in image.true_boxes[:most]) or "none"
    true += f", … ({len(image.true_boxes)} in all)" if len(image.true_boxes) > most else ""
    found = ", ".join(f"{p['class']} {p['score']:.2f}" for p in shown[:most]) or "none"
    found += f", … ({len(shown)} in all)" if len(shown) > most else ""
    return f"True boxes (dashed): {true}; predicted (solid): {found}."
