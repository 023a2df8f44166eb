"""The Data panel's preview: a row of pictures a class for images, a few samples as text for
tables, texts and sequences."""

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
            for row, (array, label) in enumerate(_by_class(dataset)):
                name = QLabel(label[:12])
                name.setObjectName("previewLabel")
                self.grid.addWidget(name, row, 0)
                for column, image in enumerate(array):
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


def _by_class(dataset) -> list[tuple[list[np.ndarray], str]]:
    rows: dict[str, list[np.ndarray]] = {}
    for array, label in dataset.preview(per_class=PREVIEW_PER_CLASS):
        rows.setdefault(label, []).append(array)
    return [(images, label) for label, images in list(rows.items())[:PREVIEW_CLASSES]]
