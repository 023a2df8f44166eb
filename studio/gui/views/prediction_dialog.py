"""The answers for files dropped on the window (or picked with Run > Predict on files…): each
input with its picture, the top classes (or the value, the labels, a mask, the boxes found) and
why, as the model saw it."""

from __future__ import annotations

import html
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

from studio.gui.views.images import boxes_picture, sample_pixmap, why_item

BOXES_HEIGHT = 144  # a detection's photo with its boxes, tall enough to read their names
BOXES_LISTED = 6  # the boxes named in its Prediction cell (the tooltip names them all)


class PredictionDialog(QDialog):
    def __init__(self, run: Path, predictions, views, reasons, parent=None, classes=()):
        super().__init__(parent)
        self.setObjectName("predictionDialog")
        self.setWindowTitle("Predictions")
        self.setMinimumSize(560, 360)
        table = QTableWidget(len(predictions), 3)
        table.setObjectName("predictionTable")
        masks = any(p.mask is not None for p in predictions)
        boxes = any(p.boxes is not None for p in predictions)
        third = "Boxes" if boxes else "Mask" if masks else "Why"
        table.setHorizontalHeaderLabels(["Input", "Prediction", third])
        table.setIconSize(QSize(2 * BOXES_HEIGHT, BOXES_HEIGHT) if boxes else QSize(96, 48))
        table.verticalHeader().setDefaultSectionSize(BOXES_HEIGHT + 8 if boxes else 56)
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
            answer.setToolTip(_tooltip(prediction.line()))
            table.setItem(row, 1, answer)
            table.setItem(
                row,
                2,
                _boxes_item(prediction, view, list(classes))
                or _mask_item(prediction, view)
                or why_item(reasons[row], view, 48),
            )
        nothing = not masks and not boxes and all(r is None for r in reasons)
        table.setColumnHidden(2, nothing)  # nothing to say
        table.resizeColumnToContents(0)
        table.resizeColumnToContents(1)
        if boxes:  # the photo with its boxes gets the room
            self.resize(760, 480)
            table.setColumnWidth(1, min(table.columnWidth(1), 200))
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Model: {run.name} (best checkpoint)"))
        layout.addWidget(table, 1)
        layout.addWidget(buttons)


def _answer(prediction) -> str:
    """`cat (97.0%)    then dog (2.1%)`, the boxes found (a line each), or the task's own line
    (a value, labels, areas)."""
    if prediction.boxes is not None:  # a detection: a line a box, its class and score, best first
        found = sorted(prediction.boxes, key=lambda b: -b[1])
        listed = "".join(f"\n{c} {s:.0%}" for c, s, _ in found[:BOXES_LISTED])
        more = f"\n… and {len(found) - BOXES_LISTED} more" if len(found) > BOXES_LISTED else ""
        count = f"{len(found)} box{'es' if len(found) != 1 else ''}"
        return f"{count}:{listed}{more}" if found else "no boxes found"
    if prediction.top is None:
        return prediction.line()
    (best, p), rest = prediction.top[0], prediction.top[1:]
    return f"{best}  ({p:.1%})" + (
        f"    then {', '.join(f'{n} ({q:.1%})' for n, q in rest)}" if rest else ""
    )


def _tooltip(line: str, most: int = 800) -> str:
    """The whole answer (a detection's boxes with where they are) as wrapped rich text."""
    return f"<p>{html.escape(line if len(line) <= most else line[:most] + ' …')}</p>"


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


def _boxes_item(prediction, view, classes: list[str]) -> QTableWidgetItem | None:
    """A detection's photo (as the model saw it) with the boxes it found; None for other answers."""
    if prediction.boxes is None or view is None:
        return None
    boxes = [
        (classes.index(name) if name in classes else 0, box, f"{name} {score:.0%}")
        for name, score, box in prediction.boxes
    ]
    item = QTableWidgetItem()
    picture = boxes_picture(view, boxes, height=BOXES_HEIGHT)
    pixmap = sample_pixmap(picture, BOXES_HEIGHT, picture.shape[1])
    if pixmap is not None:
        item.setIcon(QIcon(pixmap))
    item.setToolTip("the boxes found: each class in its colour, with its score")
    return item
