"""The answers for files dropped on the window (or picked with Run > Predict on files…): each
input with its picture, the top classes (or the value) and why, as the model saw it."""

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
        table.setHorizontalHeaderLabels(["Input", "Prediction", "Why"])
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
            if prediction.top is not None:
                (best, p), rest = prediction.top[0], prediction.top[1:]
                text = f"{best}  ({p:.1%})" + (
                    f"    then {', '.join(f'{n} ({q:.1%})' for n, q in rest)}" if rest else ""
                )
            else:
                text = f"{prediction.value:.6g}"
            answer = QTableWidgetItem(text)
            answer.setTextAlignment(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
            table.setItem(row, 1, answer)
            table.setItem(row, 2, why_item(reasons[row], view, 48))
        table.resizeColumnToContents(0)
        table.resizeColumnToContents(1)
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Model: {run.name} (best checkpoint)"))
        layout.addWidget(table, 1)
        layout.addWidget(buttons)
