"""The Data panel's preview: a row of pictures a class for images (their masks blended in for a
segmentation, their boxes drawn for a detection), a few samples as text for tables, texts and
sequences."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from studio.gui.views.images import boxes_picture, sample_pixmap

PREVIEW_PER_CLASS = 6
PREVIEW_CLASSES = 10
TILE = 40  # a preview picture's side
BOX_TILE, BOX_COLUMNS, BOX_ROWS = 72, 4, 2  # a detection's: large enough to tell its boxes apart


class DataPreview(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="dataPreview")
        self.grid = QGridLayout(self)
        self.grid.setSpacing(2)

    def show_dataset(self, dataset) -> None:
        while self.grid.count():
            self.grid.takeAt(0).widget().deleteLater()
        if dataset.kind == "image":
            boxes = dataset.task == "detection"
            rows = _box_rows(dataset) if boxes else _rows(dataset)
            for row, (title, samples) in enumerate(rows):
                name = QLabel(title[:12])
                name.setObjectName("previewLabel")
                self.grid.addWidget(name, row, 0)
                for column, (image, label) in enumerate(samples):
                    cell = QLabel()
                    side = BOX_TILE if boxes else TILE
                    cell.setPixmap(sample_pixmap(image, side, image.shape[1] if boxes else None))
                    cell.setToolTip(label)
                    self.grid.addWidget(cell, row, column + 1)
            if boxes:
                self.grid.addWidget(_legend(dataset.classes), len(rows), 0, 1, BOX_COLUMNS + 1)
            return
        for i, (sample, label) in enumerate(dataset.preview(per_class=2)[:8]):
            text = (
                sample
                if isinstance(sample, str)
                else np.array2string(np.asarray(sample)[:12], precision=2)
            )
            self.grid.addWidget(QLabel(f"{label}: {text}"), i, 0)


def _rows(dataset) -> list[tuple[str, list[tuple[np.ndarray, str]]]]:
    """Rows of (picture, its label) under a title: a class a row for a classification; for
    other tasks (images with their masks blended in, several labels) rows of samples in order."""
    samples = dataset.preview(per_class=PREVIEW_PER_CLASS)
    if dataset.task != "classification":
        title = "with masks" if dataset.task == "segmentation" else ""
        chunks = [
            samples[i : i + PREVIEW_PER_CLASS] for i in range(0, len(samples), PREVIEW_PER_CLASS)
        ]
        return [(title if i == 0 else "", chunk) for i, chunk in enumerate(chunks[:4])]
    rows: dict[str, list[tuple[np.ndarray, str]]] = {}
    for array, label in samples:
        rows.setdefault(label, []).append((array, label))
    return list(rows.items())[:PREVIEW_CLASSES]


def _box_rows(dataset) -> list[tuple[str, list[tuple[np.ndarray, str]]]]:
    """The first training images with their boxes drawn at the size they are shown (drawn at
    the images' own size, a photo's boxes and names would shrink to nothing), each labelled with
    what it shows (`square x2, disc`)."""
    from studio.core.data.dataset import image_view
    from studio.core.data.detection import summary, true_boxes

    split, classes = dataset.train, dataset.classes
    samples = []
    for i in range(min(len(split), BOX_COLUMNS * BOX_ROWS)):
        rows = split.y[i].cpu()
        view = image_view(split.x[i].cpu(), dataset.scale)
        samples.append(
            (
                boxes_picture(view, true_boxes(rows, classes), height=BOX_TILE),
                summary(rows, classes),
            )
        )
    chunks = [samples[i : i + BOX_COLUMNS] for i in range(0, len(samples), BOX_COLUMNS)]
    return [("with boxes" if i == 0 else "", chunk) for i, chunk in enumerate(chunks)]


def _legend(classes: list[str]) -> QLabel:
    """Each class's name in the colour its boxes are drawn in."""
    from studio.core.data.detection import colour

    shown = classes[:12]
    label = QLabel(
        " ".join(
            f"<span style='color:rgb{colour(i)}'>■</span>&nbsp;{html.escape(name)}"
            for i, name in enumerate(shown)
        )
        + (f" … and {len(classes) - len(shown)} more" if len(classes) > len(shown) else "")
    )
    label.setObjectName("previewLegend")
    label.setWordWrap(True)
    return label


COUNTED = {"detection": "boxes", "segmentation": "pixels"}  # what the class-count chart counts


def describe(dataset) -> str:
    """The loaded data in a line (rich text): its task and classes, the sample shape, each
    split's size (a detection: its images and boxes, and the boxes of each class), the notes."""
    info = dataset.describe()
    samples = info["samples"]
    names = (("train", "train"), ("val", "validation"), ("test", "test"))
    if dataset.task == "detection":
        splits = [
            f"{label} {samples[key]:,} images, {info['boxes'].get(key, 0):,} boxes"
            for key, label in names
            if samples[key] or key != "test"
        ]
        per_class = info["boxes_per_class"].get("train", {})
        splits.append(
            "training boxes: " + ", ".join(f"{html.escape(c)} {n:,}" for c, n in per_class.items())
        )
    else:
        splits = [
            f"{label} {samples[key]:,}" for key, label in names if samples[key] or key != "test"
        ]
    return (
        f"<b>{html.escape(dataset.what)}</b> · sample shape {dataset.input_shape} · "
        + " · ".join(splits)
        + "".join(f"<br>{n}" for n in info["notes"])
    )
