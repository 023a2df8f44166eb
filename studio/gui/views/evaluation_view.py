"""The Evaluation tab: pick a run, evaluate it in the background, and see where it goes wrong:
the confusion matrix as a heat map, precision / recall / F1 per class, the worst-classified samples
(each task its own: a detection's are in box_results.py)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.gui.views import box_results
from studio.gui.views.images import sample_pixmap, why_pixmap, why_text
from studio.gui.views.param_editors import CompactComboBox

MAX_LABELLED_CLASSES = 20  # counts are written in the cells up to this many classes
# The per-class table's columns, with what each means: for classes of samples, and of pixels.
CLASS_COLUMNS = (
    ("Class", ""),
    ("Prec.", "precision: of the samples called this class, the share that are"),
    ("Recall", "recall: of the samples of this class, the share found"),
    ("F1", "F1: precision and recall together"),
    ("N", "support: samples of this class in the split"),
)
LABEL_COLUMNS = (
    ("Label", ""),
    ("Prec.", "precision: of the samples given this label, the share that have it"),
    ("Recall", "recall: of the samples with this label, the share given it"),
    ("F1", "F1: precision and recall together, at the threshold"),
    ("AP", "average precision: precision over every threshold (torchmetrics')"),
    ("N", "support: samples with this label in the split"),
)
TARGET_COLUMNS = (
    ("Target", ""),
    ("MSE", "mean squared error, in the target's own units (squared)"),
    ("MAE", "mean absolute error, in the target's own units"),
    ("R²", "the share of the target's variance the model explains (1 is perfect)"),
)
WORST_TITLE = "Worst-classified samples (true → predicted)"
WORST_TITLES = {
    "segmentation": "Worst images (image · true mask · predicted mask)",
    "detection": box_results.WORST_TITLE,
}
PIXEL_COLUMNS = (
    ("Class", ""),
    ("IoU", "intersection over union: pixels both true and predicted, over those either is"),
    ("Dice", "Dice: twice the overlap, over the true and predicted pixels together"),
    ("Pixels", "pixels of this class in the split's true masks"),
)
COLUMNS = {
    "segmentation": PIXEL_COLUMNS,
    "multilabel": LABEL_COLUMNS,
    "regression": TARGET_COLUMNS,
    "detection": box_results.BOX_COLUMNS,
}


class EvaluationView(QWidget):
    evaluateRequested = Signal(str)  # the run directory

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("evaluationView")
        header = self._make_header()
        self._make_confusion_matrix()
        self._make_class_table()
        self.worst_box = self._make_worst_samples()
        self._lay_out(header, self.worst_box)
        self.result = None
        self.larger = None  # the last worst image opened larger (a detection's)

    def _make_header(self) -> QHBoxLayout:
        """The run picker and Evaluate button in a row, and the summary line under them."""
        self.runs = CompactComboBox()
        self.runs.setObjectName("evaluationRun")
        self.runs.setToolTip(
            "The run to evaluate: its best checkpoint, on the test split (else validation)"
        )
        self.button = QPushButton("Evaluate")
        self.button.setObjectName("evaluateButton")
        self.button.clicked.connect(self._request)
        self.summary = QLabel("Train a run, then evaluate it here.")
        self.summary.setObjectName("evaluationSummary")
        self.summary.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(QLabel("Run"))
        header.addWidget(self.runs, 1)
        header.addWidget(self.button)
        return header

    def _make_confusion_matrix(self) -> None:
        """The confusion matrix: an image of counts, true classes down and predicted across."""
        self.matrix_plot = pg.PlotWidget()
        self.matrix_plot.setObjectName("confusionPlot")
        self.matrix_plot.setMenuEnabled(False)
        self.matrix_plot.setMouseEnabled(False, False)
        self.matrix_plot.invertY(True)
        self.matrix_plot.setLabel("left", "true class")
        self.matrix_plot.setLabel("bottom", "predicted class")
        self.matrix_plot.setTitle("Confusion matrix")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("CET-L12"))
        self.matrix_plot.addItem(self.image)
        self._cell_labels: list[pg.TextItem] = []

    def _make_class_table(self) -> None:
        """The per-class table: precision, recall, F1 and support, each header saying what it is."""
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("perClassTable")
        self._columns(CLASS_COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumWidth(220)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

    def _columns(self, columns) -> None:
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels([name for name, _ in columns])
        for column, (_, tip) in enumerate(columns):
            self.table.horizontalHeaderItem(column).setToolTip(tip)

    def _make_worst_samples(self) -> QWidget:
        """The worst-classified samples as icons under a title, in a box of their own."""
        self.worst = QListWidget()
        self.worst.setObjectName("worstSamples")
        self.worst.setViewMode(QListWidget.ViewMode.IconMode)
        self.worst.setIconSize(QSize(64, 64))
        self.worst.setGridSize(QSize(112, 104))
        self.worst.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.worst.setMovement(QListWidget.Movement.Static)
        self.worst.setToolTip(
            "Misclassified samples, the most confidently wrong first; beside each image, what the "
            "model looked at for its wrong answer (Grad-CAM or integrated gradients)"
        )
        worst_box = QWidget()
        worst_layout = QVBoxLayout(worst_box)
        worst_layout.setContentsMargins(0, 0, 0, 0)
        self.worst_title = QLabel(WORST_TITLE)
        self.threshold = box_results.ScoreThreshold()  # a detection's: which boxes are drawn
        self.threshold.changed.connect(self._redraw_boxes)
        self.threshold.hide()
        self.worst.itemDoubleClicked.connect(self._show_larger)
        title_row = QHBoxLayout()
        title_row.addWidget(self.worst_title)
        title_row.addWidget(self.threshold, 1)
        worst_layout.addLayout(title_row)
        worst_layout.addWidget(self.worst)
        return worst_box

    def _lay_out(self, header: QHBoxLayout, worst_box: QWidget) -> None:
        """The header and summary on top, the matrix, table and samples side by side below."""
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(self.matrix_plot)
        body.addWidget(self.table)
        body.addWidget(worst_box)
        body.setSizes([330, 300, 330])
        for index in range(3):
            body.setStretchFactor(index, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.summary)
        layout.addWidget(body, 1)

    def set_runs(self, runs: list) -> None:
        """Trained runs (listing.Run) newest first; keeps the current choice when it is still there."""
        current = self.runs.currentData()
        self.runs.clear()
        for run in runs:
            self.runs.addItem(run.label, str(run.path))
        index = self.runs.findData(current)
        self.runs.setCurrentIndex(index if index >= 0 else 0)
        self.button.setEnabled(bool(runs))

    def _request(self) -> None:
        if self.runs.currentData():
            self.evaluateRequested.emit(self.runs.currentData())

    def set_busy(self, busy: bool) -> None:
        self.button.setEnabled(not busy and self.runs.count() > 0)
        if busy:
            self.summary.setText("Evaluating…")

    def show_error(self, message: str) -> None:
        self.summary.setText(f"Evaluation failed: {message}")

    def show_result(self, result) -> None:
        self.result = result
        head = f"{result.split} split, {result.samples:,} samples · {result.loss_name} {result.loss:.4f}"
        self._columns(COLUMNS.get(result.task, CLASS_COLUMNS))
        self.worst_title.setText(WORST_TITLES.get(result.task, WORST_TITLE))
        self.worst_title.setToolTip(box_results.WORST_TIP if result.task == "detection" else "")
        self._show_matrix([], [])
        self.table.setRowCount(0)
        self.worst.clear()
        self.matrix_plot.setVisible(result.task in ("classification", "segmentation"))
        self.worst_box.setVisible(result.task in ("classification", "segmentation", "detection"))
        self.threshold.setVisible(result.task == "detection")
        {
            "segmentation": self._show_masks,
            "multilabel": self._show_labels,
            "regression": self._show_values,
            "detection": self._show_boxes,
        }.get(result.task, self._show_classes)(result, head)

    def _show_classes(self, result, head: str) -> None:
        self.summary.setText(
            f"{head} · accuracy {result.accuracy:.2%} · macro F1 {result.macro_f1:.3f}"
        )
        self._show_matrix(result.confusion, result.classes)
        self._show_table(result.per_class)
        self._show_worst(result.worst)

    def _show_masks(self, result, head: str) -> None:
        self.summary.setText(
            f"{head} · mIoU {result.miou:.3f} · pixel accuracy {result.pixel_acc:.2%}"
        )
        self._show_matrix(result.confusion, result.classes)
        self._show_rows(
            [c["class"], f"{c['iou']:.3f}", f"{c['dice']:.3f}", f"{c['pixels']:,}"]
            for c in result.class_iou
        )
        self._show_worst_masks(result.worst)

    def _show_boxes(self, result, head: str) -> None:
        """A detection: its mAPs, a row a class, and the worst images with their boxes drawn at
        the evaluation's threshold (the slider then redraws them at its own)."""
        self.summary.setText(box_results.summary(result, head))
        self._show_rows(box_results.class_rows(result))
        self.threshold.set_score(result.extra["threshold"])
        self._redraw_boxes(self.threshold.score())

    def _redraw_boxes(self, threshold: float) -> None:
        if self.result is not None and self.result.task == "detection":
            box_results.show_worst_boxes(
                self.worst, self.result.worst, self.result.classes, threshold
            )

    def _show_larger(self, item: QListWidgetItem) -> None:
        if self.result is not None and self.result.task == "detection":
            image = self.result.worst[self.worst.row(item)]
            self.larger = box_results.show_larger(
                self, image, self.result.classes, self.threshold.score()
            )

    def _show_labels(self, result, head: str) -> None:
        """A multi-label task: its averages, then a row a label (no matrix: labels are not one
        choice among others)."""
        extra = result.extra
        self.summary.setText(
            f"{head} · at threshold {extra['threshold']:g}: micro F1 {extra['micro_f1']:.3f} · "
            f"macro F1 {extra['macro_f1']:.3f} · mAP {extra['map']:.3f} · "
            f"exact match {extra['exact_match']:.1%}"
        )
        self._show_rows(
            [
                row["label"],
                f"{row['precision']:.3f}",
                f"{row['recall']:.3f}",
                f"{row['f1']:.3f}",
                "–" if row["ap"] is None else f"{row['ap']:.3f}",
                f"{row['support']:,}",
            ]
            for row in extra["per_label"]
        )

    def _show_values(self, result, head: str) -> None:
        """A regression: its scores in the target's units, a row a target when there are several."""
        self.summary.setText(
            f"{head} · MSE {result.mse:.4g} · MAE {result.mae:.4g} · R² {result.r2:.4f}"
            + (" (means over the targets)" if result.targets else "")
        )
        self._show_rows(
            [t["target"], f"{t['mse']:.4g}", f"{t['mae']:.4g}", f"{t['r2']:.4f}"]
            for t in result.targets
        )

    def _show_matrix(self, confusion: list[list[int]], classes: list[str]) -> None:
        for label in self._cell_labels:
            self.matrix_plot.removeItem(label)
        self._cell_labels = []
        if not confusion:
            self.image.clear()
            return
        counts = np.asarray(confusion, dtype=np.float64)
        rows = counts.sum(axis=1, keepdims=True)
        share = np.divide(
            counts, rows, out=np.zeros_like(counts), where=rows > 0
        )  # colour: share of the true class
        self.image.setImage(share, levels=(0.0, 1.0))
        n = len(classes)
        ticks = [[(i + 0.5, name[:10]) for i, name in enumerate(classes)]] if n <= 30 else None
        for axis in ("bottom", "left"):
            self.matrix_plot.getAxis(axis).setTicks(ticks)
        if n <= MAX_LABELLED_CLASSES:
            for r in range(n):
                for c in range(n):
                    if counts[r, c]:
                        color = (
                            "#ffffff" if share[r, c] > 0.5 else "#1f232b"
                        )  # readable on its cell
                        label = pg.TextItem(str(int(counts[r, c])), color=color, anchor=(0.5, 0.5))
                        label.setPos(c + 0.5, r + 0.5)
                        self.matrix_plot.addItem(label)
                        self._cell_labels.append(label)
        self.matrix_plot.setRange(xRange=(0, n), yRange=(0, n), padding=0.02)

    def _show_table(self, per_class) -> None:
        self._show_rows(
            [s.name, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", f"{s.support:,}"]
            for s in per_class
        )

    def _show_rows(self, rows) -> None:
        rows = list(rows)
        self.table.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, column, item)

    def _show_worst(self, worst) -> None:
        self.worst.clear()
        explained = any(s.why is not None and s.why.heat is not None for s in worst)
        self.worst.setIconSize(QSize(128, 64) if explained else QSize(64, 64))
        self.worst.setGridSize(QSize(150, 104) if explained else QSize(112, 104))
        for sample in worst:
            text = f"{sample.true} → {sample.predicted}\n{sample.confidence:.0%}"
            if sample.why is not None and sample.why.features:  # a table row: what decided it
                text += f"\n{why_text(sample.why, 1)}"[:40]
            item = QListWidgetItem(text)
            pixmap = why_pixmap(sample.view, sample.why, 64) or sample_pixmap(sample.view, 64)
            if sample.why is not None:
                item.setToolTip(
                    f"Why it said {sample.predicted!r}: {sample.why.method}"
                    + (f"\n{why_text(sample.why)}" if sample.why.features else "")
                )
            if pixmap is not None:
                item.setIcon(QIcon(pixmap))
            elif isinstance(sample.view, str):
                item.setToolTip(sample.view)
                item.setText(f"{sample.view[:24]}…\n{text}")
            self.worst.addItem(item)

    def _show_worst_masks(self, worst) -> None:
        """Each worst image beside its true and predicted masks (each class in its colour), with
        its mIoU."""
        from studio.core.data.segmentation import palette

        colours = palette()
        self.worst.clear()
        self.worst.setIconSize(QSize(240, 80))
        self.worst.setGridSize(QSize(252, 112))
        for image in worst:
            strip = np.concatenate(
                [_rgb(image.view), colours[image.true_mask], colours[image.mask]], axis=1
            )
            item = QListWidgetItem(f"#{image.index} · mIoU {image.miou:.2f}")
            item.setToolTip(
                f"image {image.index} of the split: mIoU {image.miou:.3f}, pixel accuracy "
                f"{image.pixel_acc:.1%}; left the image, then its true mask, then the prediction"
            )
            pixmap = sample_pixmap(strip, 80, 240)
            if pixmap is not None:
                item.setIcon(QIcon(pixmap))
            self.worst.addItem(item)


def _rgb(view: np.ndarray) -> np.ndarray:
    return np.repeat(view[..., None], 3, axis=2) if view.ndim == 2 else view
