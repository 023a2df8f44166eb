"""The answers for files dropped on the window (or picked with Run > Predict on files…): each
input with its picture, the top classes (or the value, the labels, a mask) and why, as the model
saw it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from studio.gui.views.images import sample_pixmap, why_item


class PredictionDialog(QDialog):
    def __init__(self, run: Path, predictions, views, reasons, parent=None):
        super().__init__(parent)
        self.setObjectName("predictionDialog")
        self.setWindowTitle("Predictions")
        self.setMinimumSize(560, 360)
        table = QTableWidget(len(predictions), 3)
        table.setObjectName("predictionTable")
        masks = any(p.mask is not None for p in predictions)
        table.setHorizontalHeaderLabels(["Input", "Prediction", "Mask" if masks else "Why"])
        table.setIconSize(QSize(96, 48))
        table.verticalHeader().setDefaultSectionSize(56)
        table.horizontalHeader().setStretchLastSection(True)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (prediction, view) in enumerate(zip(predictions, views, strict=False)):
            item = QTableWidgetItem(prediction.input)
            pixmap = sample_pixmap(view, 48)
            if pixmap is not None:
                item.setIcon(QIcon(pixmap))
            table.setItem(row, 0, item)
            answer = QTableWidgetItem(_answer(prediction))
            answer.setTextAlignment(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
            table.setItem(row, 1, answer)
            table.setItem(row, 2, _mask_item(prediction, view) or why_item(reasons[row], view, 48))
        table.setColumnHidden(2, not masks and all(r is None for r in reasons))  # nothing to say
        table.resizeColumnToContents(0)
        table.resizeColumnToContents(1)
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Model: {run.name} (best checkpoint)"))
        layout.addWidget(table, 1)
        layout.addWidget(buttons)


def _answer(prediction) -> str:
    """`cat (97.0%)    then dog (2.1%)`, or the task's own line (a value, labels, areas)."""
    if prediction.top is None:
        return prediction.line()
    (best, p), rest = prediction.top[0], prediction.top[1:]
    return f"{best}  ({p:.1%})" + (
        f"    then {', '.join(f'{n} ({q:.1%})' for n, q in rest)}" if rest else ""
    )


def _mask_item(prediction, view) -> QTableWidgetItem | None:
    """A segmentation's predicted mask blended into its image; None for other answers."""
    if prediction.mask is None or view is None:
        return None
    from studio.core.data.segmentation import blend

    item = QTableWidgetItem()
    pixmap = sample_pixmap(blend(view, prediction.mask), 48)
    if pixmap is not None:
        item.setIcon(QIcon(pixmap))
    item.setToolTip("the predicted mask: each class in its colour")
    return item
