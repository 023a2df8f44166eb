"""The Runs tab: every run of the runs folder in one table (sortable, filtered as you type), the
curves of the selected runs laid over the live ones, the diff of two selected runs, a run
opened as a new project, and a run going on a host attached to (Attach, or a double click: it is
followed into the live plots). A run on a host shows the host in its Device cell. It re-reads the folder every few seconds while it is shown, off the GUI
thread, so a run growing in another process (torchrun, another machine on a shared folder) moves.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio.core.train.events import show_metric

FIXED = ("Run", "Status", "Best", "Final", "Epochs", "Started", "Params", "Time", "Device")
REFRESH_MS = 3000
MAX_COLUMN_PX = 170
SIZED_FROM_ROWS = 50  # column widths measured on this many rows
STATUS_COLOURS = {"running": "#7bd88f", "failed": "#ff6b6b", "stopped": "#ffb347"}


class RunsModel(QAbstractTableModel):
    """Runs (core/runs/listing.py) as table cells; sorting uses the numbers, not the text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []
        self.varying: list[str] = []
        self.texts: list[str] = []  # each row's cells, lower-case: what the filter searches
        self.order: tuple[int, Qt.SortOrder] = (5, Qt.SortOrder.DescendingOrder)

    def set_rows(self, rows: list[Any]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.varying = list(rows[0].varying) if rows else []
        self._arrange()
        self.endResetModel()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sorted here, in one Python sort by the numbers (a proxy's sort would call back into
        Python for every comparison)."""
        self.layoutAboutToBeChanged.emit()
        self.order = (column, order)
        self._arrange()
        self.layoutChanged.emit()

    def _arrange(self) -> None:
        column, order = self.order
        if column < self.columnCount():

            def key(row) -> tuple:
                value = _value(row, column, self.varying)
                number = isinstance(value, (int, float)) and not isinstance(value, bool)
                return (value is None, 0 if number else 1, value if number else str(value))

            present = [r for r in self.rows if _value(r, column, self.varying) is not None]
            missing = [r for r in self.rows if _value(r, column, self.varying) is None]
            present.sort(key=key, reverse=order == Qt.SortOrder.DescendingOrder)
            self.rows = present + missing  # blanks last either way
        n = len(FIXED) + len(self.varying)
        self.texts = [
            " ".join(_text(r, c, self.varying) for c in range(n)).lower() for r in self.rows
        ]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(FIXED) + len(self.varying)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole or orientation != Qt.Orientation.Horizontal:
            return None
        if section < len(FIXED):
            return FIXED[section]
        return self.varying[section - len(FIXED)].removeprefix("training.")

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _text(row, column, self.varying)
        if role == Qt.ItemDataRole.UserRole:  # what sorting compares
            value = _value(row, column, self.varying)
            return value if isinstance(value, (int, float)) else str(value or "")
        if role == Qt.ItemDataRole.ForegroundRole and column == 1:
            colour = STATUS_COLOURS.get(row.status)
            return QColor(colour) if colour else None
        if role == Qt.ItemDataRole.ToolTipRole and column == 0:
            return str(row.path)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (2, 3, 4, 6, 7):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _value(row, column: int, varying: list[str]) -> Any:
    fixed = (
        row.path.name, row.status, row.best, row.final, len(row.epochs), row.started, row.params,
        row.seconds, _device(row),
    )  # fmt: skip
    return fixed[column] if column < len(FIXED) else row.varying.get(varying[column - len(FIXED)])


def _device(row) -> str | None:
    """Where it trained: `gpu-box · cuda:0` for a run on a host."""
    host = getattr(row, "host", None)
    if not host:
        return row.device
    return f"{host} · {row.device}" if row.device else host


def attachable(row) -> bool:
    """A run going on a host, which the window can follow."""
    return bool(getattr(row, "host", None)) and row.status == "running"


def _text(row, column: int, varying: list[str]) -> str:
    value = _value(row, column, varying)
    if value is None:
        return ""
    if column == 5:
        return time.strftime("%m-%d %H:%M", time.localtime(value))
    if column in (2, 3):
        return show_metric(row.metric, value)
    if column == 6:
        return f"{value:,}"
    if column == 7:
        return f"{value:,.0f} s"
    return f"{value:g}" if isinstance(value, float) else str(value)


class _Filter(QSortFilterProxyModel):
    """Rows whose cells contain every word typed (any column); sorting is the model's own."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []

    def set_words(self, text: str) -> None:
        self.words = text.lower().split()
        self.invalidateFilter()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        if not self.words:
            return True
        cells = self.sourceModel().texts[source_row]
        return all(word in cells for word in self.words)


class RunsView(QWidget):
    refreshRequested = Signal()  # the window lists the runs folder in the background
    overlayRequested = Signal(list)  # run folders to draw behind the live curves
    openRequested = Signal(object)  # a run folder to open as a new project
    diffRequested = Signal(object, object)  # two run folders, older first: show_diff answers
    attachRequested = Signal(object, str)  # a run folder going on a host, and the host

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("runsView")
        self.model = RunsModel()
        self.proxy = _Filter()
        self.proxy.setSourceModel(self.model)
        self.filter = QLineEdit(objectName="runsFilter")
        self.filter.setPlaceholderText("Filter runs: words in any column (completed, SGD, 0.01…)")
        self.filter.setClearButtonEnabled(True)
        self.summary = QLabel(objectName="runsSummary")
        self.table = QTableView(objectName="runsTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(5, Qt.SortOrder.DescendingOrder)  # newest first
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().hide()
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setResizeContentsPrecision(SIZED_FROM_ROWS)
        self._seen: list = []  # what the last listing held, to skip one that changed nothing
        self._compared: tuple[Path, Path] | None = None  # the two runs the diff is of
        self._sized = False
        self.table.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.overlay_button = QPushButton("Overlay curves", objectName="runsOverlayButton")
        self.open_button = QPushButton("Open as project", objectName="runsOpenButton")
        self.attach_button = QPushButton("Attach", objectName="attachRunButton")
        self.attach_button.setToolTip("Follow the selected run going on a host in the live plots")
        self.diff = QPlainTextEdit(objectName="runsDiff")
        self.diff.setReadOnly(True)
        self.diff.setPlaceholderText("Select two runs to see what differs between them.")
        self.diff.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)

        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.overlay_button)
        top.addWidget(self.open_button)
        top.addWidget(self.attach_button)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.diff)
        split.setSizes([760, 240])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addWidget(self.summary)
        self.filter.textChanged.connect(self._filtered)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selected())
        self.overlay_button.clicked.connect(
            lambda: self.overlayRequested.emit([r.path for r in self.selected_rows()])
        )
        self.open_button.clicked.connect(self._open)
        self.attach_button.clicked.connect(self._attach)
        self.table.doubleClicked.connect(lambda _index: self._attach())
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refreshRequested)
        self._selected()

    # ---------------------------------------------------------------- data in

    def set_rows(self, rows: list[Any]) -> None:
        """A fresh listing, the selection kept (by run folder)."""
        seen = [(r.path, r.status, len(r.epochs), r.final, r.seconds) for r in rows]
        if seen == self._seen:
            return  # nothing moved since the last look: no repaint, the scroll position kept
        self._seen = seen
        chosen = {r.path for r in self.selected_rows()}
        columns = self.model.varying
        self.model.set_rows(rows)
        if not self._sized or columns != self.model.varying:
            self._sized = bool(rows)  # widths from the first rows, once: measuring costs
            self.table.resizeColumnsToContents()
            header = self.table.horizontalHeader()
            for column in range(self.model.columnCount()):  # long names elide, numbers stay
                header.resizeSection(column, min(header.sectionSize(column), MAX_COLUMN_PX))
        selection = self.table.selectionModel()
        for i in range(self.proxy.rowCount()):
            source = self.proxy.mapToSource(self.proxy.index(i, 0)).row()
            if rows[source].path in chosen:
                selection.select(
                    self.proxy.index(i, 0),
                    selection.SelectionFlag.Select | selection.SelectionFlag.Rows,
                )
        self._say()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refreshRequested.emit()
        self.timer.start()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.timer.stop()

    # ---------------------------------------------------------------- selection

    def selected_rows(self) -> list[Any]:
        picked = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return [self.model.rows[self.proxy.mapToSource(i).row()] for i in picked]

    def _selected(self) -> None:
        rows = self.selected_rows()
        self.overlay_button.setEnabled(bool(rows))
        self.open_button.setEnabled(len(rows) == 1)
        self.attach_button.setEnabled(len(rows) == 1 and attachable(rows[0]))
        self._compared = None
        self.diff.clear()
        if len(rows) == 2:
            older, newer = sorted(rows, key=lambda r: r.started or 0)
            self._compared = (older.path, newer.path)
            self.diffRequested.emit(older.path, newer.path)

    def show_diff(self, a: Path, b: Path, text: str) -> None:
        """What differs between a and b (read in the background), if they are still the two
        selected."""
        if self._compared == (a, b):
            self.diff.setPlainText(text)

    def _open(self) -> None:
        rows = self.selected_rows()
        if len(rows) == 1:
            self.openRequested.emit(rows[0].path)

    def _attach(self) -> None:
        rows = self.selected_rows()
        if len(rows) == 1 and attachable(rows[0]):
            self.attachRequested.emit(rows[0].path, rows[0].host)

    def _filtered(self, text: str) -> None:
        self.proxy.set_words(text)
        self._say()

    def _say(self) -> None:
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        running = sum(r.status == "running" for r in self.model.rows)
        said = f"{total} runs" if shown == total else f"{shown} of {total} runs"
        if running:
            said += f" · {running} running"
        self.summary.setText(said + " · select several to overlay their curves, two to compare")
