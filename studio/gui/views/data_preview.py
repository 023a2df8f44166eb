"""The Data panel's preview: a row of pictures a class for images (their masks blended in for a
segmentation), a few samples as text for tables, texts and sequences."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from studio.gui.views.images import sample_pixmap

PREVIEW_PER_CLASS = 6
PREVIEW_CLASSES = 10


class DataPreview(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="dataPreview")
        self.grid = QGridLayout(self)
        self.grid.setSpacing(2)

    def show_dataset(self, dataset) -> None:
        while self.grid.count():
            self.grid.takeAt(0).widget().deleteLater()
        if dataset.kind == "image":
            for row, (title, samples) in enumerate(_rows(dataset)):
                name = QLabel(title[:12])
                name.setObjectName("previewLabel")
                self.grid.addWidget(name, row, 0)
                for column, (image, label) in enumerate(samples):
                    cell = QLabel()
                    cell.setPixmap(sample_pixmap(image, 40))
                    cell.setToolTip(label)
                    self.grid.addWidget(cell, row, column + 1)
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
