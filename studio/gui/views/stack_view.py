"""The layer stack: a row per layer (nested for containers) with its arguments, output shape and
parameters; the first layer that cannot take its input is red, with the reason and a fix."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.model.walk import children, walk
from studio.core.units import si
from studio.gui.views.palette import LAYER_MIME

COLUMNS = ("#", "Layer", "Arguments", "Output shape", "Params")
ERROR_BACKGROUND = QColor("#5c1f24")
WARNING_COLOR = QColor("#ffb347")


def _args_text(layer) -> str:
    if layer.branches is not None:
        return f"merge={layer.merge or 'concat'}, {len(layer.branches)} branches"
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in layer.args.items())


def _layer_item(layer, path: str, row, error) -> QTreeWidgetItem:
    """A layer's row: its number, type, arguments, output shape and parameters; red if it failed."""
    failed = error is not None and error.path == path
    shape = (
        "—"
        if failed or row is None or not row.output_shape and row.params == 0 and error is not None
        else str(row.output_shape)
    )
    params = f"{row.params:,}" if row is not None and not failed else ""
    title = f"{layer.type}  ·  {layer.name}" if layer.name else layer.type  # imported: the code's
    item = QTreeWidgetItem(
        [path.split(".")[-1], title, _args_text(layer), shape if not failed else "✗", params]
    )
    item.setData(0, Qt.ItemDataRole.UserRole, path)
    item.setToolTip(1, _tooltip(layer.type))
    if row is not None and row.inferred:
        item.setToolTip(2, "inferred: " + ", ".join(f"{k}={v}" for k, v in row.inferred.items()))
    for column in (3, 4):
        item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if failed:
        for column in range(len(COLUMNS)):
            item.setBackground(column, QBrush(ERROR_BACKGROUND))
            item.setToolTip(column, str(error))
    return item


def _branch_row(item: QTreeWidgetItem, branch: int) -> QTreeWidgetItem:
    """The "branch b" row under a Branch's row, holding that branch's layers (not selectable)."""
    group = QTreeWidgetItem(["", f"branch {branch}", "", "", ""])
    group.setFlags(Qt.ItemFlag.ItemIsEnabled)
    item.addChild(group)
    return group


class _StackTree(QTreeWidget):
    """Accepts palette drags (insert) and row drags (move among siblings)."""

    dropped = Signal(
        str, object, int
    )  # (palette type or "", source path or None, target top index)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(LAYER_MIME) or event.source() is self:
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        target = self.itemAt(event.position().toPoint())
        index = (
            self.indexOfTopLevelItem(target)
            if target is not None and target.parent() is None
            else self.topLevelItemCount()
        )
        if event.mimeData().hasFormat(LAYER_MIME):
            self.dropped.emit(bytes(event.mimeData().data(LAYER_MIME)).decode(), None, index)
        elif self.currentItem() is not None:
            self.dropped.emit("", self.currentItem().data(0, Qt.ItemDataRole.UserRole), index)
        event.acceptProposedAction()


class LayerStackView(QWidget):
    """Shows a ShapeReport; `selectionChangedTo(path)` and `fixRequested(path, action)` out."""

    selectionChangedTo = Signal(object)
    fixRequested = Signal(str, dict)
    dropped = Signal(str, object, int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.tree = _StackTree()
        self.tree.setObjectName("layerStack")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setDragEnabled(True)
        self.tree.setAcceptDrops(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        for column, width in enumerate((64, 170, 260, 130, 90)):
            header.resizeSection(column, width)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(2, header.ResizeMode.Stretch)
        self.error_bar = QWidget()
        self.error_bar.setObjectName("stackError")
        bar = QHBoxLayout(self.error_bar)
        bar.setContentsMargins(6, 4, 6, 4)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.fix_button = QPushButton("Fix")
        self.fix_button.setObjectName("fixButton")
        bar.addWidget(self.error_label, 1)
        bar.addWidget(self.fix_button)
        self.error_bar.hide()
        self.footer = QLabel()
        self.footer.setObjectName("stackFooter")
        self.footer.setWordWrap(True)  # a narrow window wraps the totals instead of widening
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.error_bar)
        layout.addWidget(self.footer)
        self._error = None
        self._items: dict[str, QTreeWidgetItem] = {}
        self._warnings: dict[str, list[str]] = {}  # path -> the health warnings of the last run
        self.tree.currentItemChanged.connect(
            lambda item, _prev: self.selectionChangedTo.emit(
                item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
            )
        )
        self.fix_button.clicked.connect(self._fix)
        self.tree.dropped.connect(self.dropped)

    def current_path(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def show_model(self, model, report, batch_size: int, select: str | None) -> None:
        """Rebuild the rows from the model and its shape report, keeping `select` selected."""
        rows = {row.path: row for row in report.rows}
        error = report.error
        self.tree.blockSignals(True)
        self.tree.clear()
        items: dict[str, QTreeWidgetItem] = {}
        # The row a layer goes under: (container path, None) its own row, (path, b) its branch b.
        holders: dict[tuple[str | None, int | None], QTreeWidgetItem] = {}
        backbones: list[QTreeWidgetItem] = []
        for node in walk(model.layers):
            layer, path = node.layer, node.path
            failed = error is not None and error.path == path
            item = _layer_item(layer, path, rows.get(path), error)
            parent = holders.get((node.parent, node.branch))
            (parent.addChild(item) if parent is not None else self.tree.addTopLevelItem(item))
            items[path] = holders[(path, None)] = item
            if layer.type == "Backbone" and not failed:
                _add_backbone_parts(item, layer.args.get("name", "resnet18"))
                backbones.append(item)
            for group in children(layer, path):
                if group.branch is not None:
                    holders[(path, group.branch)] = _branch_row(item, group.branch)
        self.tree.expandAll()
        for item in backbones:  # its parts are there to look at, not to edit: folded
            item.setExpanded(False)
        if select in items:
            self.tree.setCurrentItem(items[select])
        self.tree.blockSignals(False)
        self._items = items
        self._badge()
        self._error = error
        if error is not None:
            self.error_label.setText(
                f"<b>Layer {error.path} ({error.layer_type})</b> received {error.received}: "
                f"{error.problem}" + (f"<br>Fix: {error.fix}" if error.fix else "")
            )
            self.fix_button.setVisible(error.action is not None)
            self.fix_button.setText(
                f"Fix: {error.fix}" if error.fix and len(error.fix) < 40 else "Apply fix"
            )
            self.error_bar.show()
        else:
            self.error_bar.hide()
        memory = report.training_memory(batch_size)
        self.footer.setText(
            f"Parameters: {report.total_params:,}  ·  FLOPs per sample: {si(report.total_flops)}  ·  "
            f"Output: {report.output_shape}  ·  Memory for one batch of {batch_size}: ~{si(memory, 1024)}B"
        )

    def set_warnings(self, warnings: dict[str, list[str]]) -> None:
        """Health warnings by layer path: a badge on each layer's row, the messages as its
        tooltip (they stay until the next run starts)."""
        self._warnings = {path: list(messages) for path, messages in warnings.items()}
        self._badge()

    def warning_badge(self, path: str) -> str:
        item = self._items.get(path)
        return item.text(0) if item is not None and path in self._warnings else ""

    def _badge(self) -> None:
        for path, item in self._items.items():
            messages = self._warnings.get(path)
            number = path.split(".")[-1]
            if messages:
                item.setText(0, f"⚠ {number}")
                item.setForeground(0, QBrush(WARNING_COLOR))
                item.setToolTip(0, "\n".join(messages))
            elif item.text(0) != number:
                item.setText(0, number)
                item.setData(0, Qt.ItemDataRole.ForegroundRole, None)
                item.setToolTip(0, "")

    def select(self, path: str) -> None:
        """Select a layer's row (as a click would)."""
        item = self._items.get(path)
        if item is not None:
            self.tree.setCurrentItem(item)

    def _fix(self) -> None:
        if self._error is not None and self._error.action is not None:
            self.fixRequested.emit(self._error.path, self._error.action)


def _tooltip(layer_type: str) -> str:
    from studio.core.catalogue import layers

    info = layers.get(layer_type)
    return info.doc if info else ""


def _add_backbone_parts(item: QTreeWidgetItem, name: str) -> None:
    """A pretrained backbone's own modules under its row, read-only (the Backbone is one layer)."""
    from studio.core.model.backbones import inner_modules

    for part, kind, params in inner_modules(name):
        child = QTreeWidgetItem(["", part, kind, "", f"{params:,}"])
        child.setFlags(Qt.ItemFlag.ItemIsEnabled)  # not selectable, not draggable
        child.setForeground(1, QBrush(QColor("#8a93a6")))
        child.setTextAlignment(4, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.addChild(child)
