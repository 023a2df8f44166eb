"""The dataset picker: the catalogue's sources and their options, split and batch size,
augmentation, and a preview of samples with their labels and the class counts."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.project.spec import TASKS
from studio.gui.views.column_table import ColumnTypesTable
from studio.gui.views.data_preview import COUNTED, DataPreview, describe
from studio.gui.views.param_editors import CompactComboBox, ParamEditor

# Options picked with a Browse button: a folder (True), a file (False), or a folder for folder
# sources and a file for the others (None); a source's own where it differs (YOLO's labels folder).
BROWSED = {"path": None, "images": True, "masks": True, "root": True, "classes": False,
           "labels": False, "annotations": False}  # fmt: skip
BROWSED_IN = {"detection": {"labels": True}}


class DataPanel(QWidget):
    """Edits `data` through the document; `loadRequested` asks the window to load the dataset."""

    loadRequested = Signal()
    cancelRequested = Signal()

    def __init__(self, document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self._updating = False
        self._make_widgets()
        self._lay_out()
        self._connect()

    def _make_widgets(self) -> None:
        """The source and its options, split, batch size, augmentation, loading and the preview."""
        self.source = CompactComboBox(objectName="datasetPicker")
        self.task = CompactComboBox(objectName="dataTask")  # data.task; None: told from the data
        for label, task in (("From the data", None), *((t.title(), t) for t in TASKS)):
            self.task.addItem(label, task)
        self.options = QWidget()
        self.options_form = QFormLayout(self.options)
        self.options_form.setContentsMargins(0, 0, 0, 0)
        self.val_fraction = QDoubleSpinBox(
            objectName="valFraction", minimum=0.0, maximum=0.9, singleStep=0.05, decimals=2
        )
        self.batch_size = QSpinBox(objectName="batchSize", minimum=1, maximum=65536)
        self.augment = QListWidget(objectName="augmentList")
        self.augment.setMaximumHeight(70)
        self.add_augment = CompactComboBox(objectName="addAugment")
        self.remove_augment = QPushButton("Remove")
        self.augment_args = QWidget(
            objectName="augmentArgs"
        )  # the selected augmentation's arguments
        self.augment_form = QFormLayout(self.augment_args)
        self.augment_form.setContentsMargins(12, 0, 0, 0)
        self._augment_shown: tuple[int, str] | None = None
        self.augment_editors: dict[str, ParamEditor] = {}
        self.load_button = QPushButton("Load preview", objectName="loadData")
        self.cancel_button = QPushButton("Cancel", objectName="cancelLoad")
        self.progress = QProgressBar(objectName="dataProgress")
        self.progress.hide()
        self.cancel_button.hide()
        self.status = QLabel(objectName="dataStatus")
        self.columns = ColumnTypesTable()
        self.status.setWordWrap(True)
        self.preview = DataPreview()
        # made now, hidden until a dataset is shown: made on first use, it cost the GUI thread
        # ~30 ms just as the first dataset arrived, when a user may be pressing Train
        self.counts_plot = pg.PlotWidget()
        self.counts_plot.setObjectName("classCounts")  # pyqtgraph gives objectName= to its item
        self.counts_plot.setMaximumHeight(140)
        self.counts_plot.setMinimumHeight(120)  # squeezed any lower, its axis labels overlap
        self.counts_plot.setMouseEnabled(False, False)
        self.counts_plot.setTitle("Training samples per class", size="9pt")
        self.counts_plot.hide()
        self._options_source: str | None = None
        self.option_editors: dict[str, ParamEditor] = {}

    def _lay_out(self) -> None:
        """The settings form on top, then loading, its status, the columns and the preview."""
        form = QFormLayout()
        form.addRow("Source", self.source)
        form.addRow("Task", self.task)
        form.addRow(self.options)
        form.addRow("Validation share", self.val_fraction)
        form.addRow("Batch size", self.batch_size)
        augment_row = QHBoxLayout()
        augment_row.addWidget(self.add_augment, 1)
        augment_row.addWidget(self.remove_augment)
        form.addRow("Augmentation", self.augment)
        form.addRow("", augment_row)
        form.addRow(self.augment_args)
        load_row = QHBoxLayout()
        load_row.addWidget(self.load_button)
        load_row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(load_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.columns)
        layout.addWidget(self.preview)
        layout.addWidget(self.counts_plot)
        layout.addStretch(1)

    def _connect(self) -> None:
        """Edits go to the document as undoable commands; the buttons ask the window."""
        self.source.currentIndexChanged.connect(self._source_changed)
        self.task.currentIndexChanged.connect(self._task_changed)
        self.val_fraction.valueChanged.connect(
            lambda v: self._edit(
                "Set validation share", lambda d: setattr(d, "val_fraction", round(v, 4))
            )
        )
        self.batch_size.valueChanged.connect(
            lambda v: self._edit("Set batch size", lambda d: setattr(d, "batch_size", v))
        )
        self.add_augment.activated.connect(self._add_augment)
        self.remove_augment.clicked.connect(self._remove_augment)
        self.augment.currentRowChanged.connect(lambda _row: self._show_augment_args())
        self.load_button.clicked.connect(self.loadRequested)
        self.columns.typeChosen.connect(self._column_type_chosen)
        self.cancel_button.clicked.connect(self.cancelRequested)

    def populate(self) -> None:
        from studio.core.catalogue import components
        from studio.core.data import SOURCES

        self._updating = True
        for source in SOURCES.values():
            self.source.addItem(
                f"{source.title}" + ("" if source.offline else "  (torchvision)"), source.id
            )
            self.source.setItemData(
                self.source.count() - 1, source.description, Qt.ItemDataRole.ToolTipRole
            )
        self.add_augment.addItem("Add augmentation…")
        self.add_augment.addItems(list(components.AUGMENTATIONS))
        self._updating = False
        self.show_project()

    def show_project(self) -> None:
        data = self.document.project.data
        self._updating = True
        try:
            self.source.setCurrentIndex(max(0, self.source.findData(data.source)))
            self.task.setCurrentIndex(max(0, self.task.findData(data.task)))
            self.val_fraction.setValue(data.val_fraction)
            self.batch_size.setValue(data.batch_size)
            row = self.augment.currentRow()
            self.augment.blockSignals(True)  # the list is rebuilt; the selection stays where it was
            self.augment.clear()
            for item in data.augment:
                self.augment.addItem(
                    f"{item.type}({', '.join(f'{k}={v}' for k, v in item.args.items())})"
                )
            self.augment.setCurrentRow(min(row, len(data.augment) - 1))
            self.augment.blockSignals(False)
            self._show_augment_args()
            self._show_options()
        finally:
            self._updating = False

    def _show_options(self) -> None:
        """Build the source's option editors; for the same source, only update their values
        (rebuilding on every edit would take the focus from the field being typed in)."""
        from studio.core.data import SOURCES

        data = self.document.project.data
        if self._options_source == data.source:
            for name, editor in self.option_editors.items():
                value = data.options.get(name, editor.param.default)
                if editor.value() != value and not editor.has_focus():
                    editor.set_value(value)
            self._show_used(SOURCES[data.source], data.options)
            return
        self._options_source = data.source
        self.option_editors = {}
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        info = SOURCES[data.source]
        for param in info.options:
            if param.kind == "mapping":  # a table's column types: the columns table edits them
                continue
            editor = ParamEditor(param, data.options.get(param.name, param.default))
            editor.committed.connect(self._option_changed)
            self.option_editors[param.name] = editor
            row: QWidget = editor
            if param.name in BROWSED:
                row = QWidget()
                line = QHBoxLayout(row)
                line.setContentsMargins(0, 0, 0, 0)
                browse = QPushButton("Browse…")
                folder = BROWSED_IN.get(info.id, {}).get(param.name, BROWSED[param.name])
                folder = folder or (folder is None and info.kind == "folder")
                browse.clicked.connect(lambda _=False, e=editor, f=folder: self._browse(e, f))
                line.addWidget(editor, 1)
                line.addWidget(browse)
            self.options_form.addRow(param.name, row)
        self._show_used(info, data.options)

    def _show_used(self, info, options: dict) -> None:
        """Only the options these settings use (a VOC root only for format voc)."""
        for name, editor in self.option_editors.items():
            row = editor.parentWidget() if editor.parentWidget() is not self.options else editor
            self.options_form.setRowVisible(row, info.used(name, options))

    def _browse(self, editor: ParamEditor, folder: bool) -> None:
        start = str(self.document.base_dir)
        chosen = (
            QFileDialog.getExistingDirectory(self, editor.param.name, start)
            if folder
            else QFileDialog.getOpenFileName(self, editor.param.name, start, "All files (*)")[0]
        )
        if chosen:
            editor.set_value(chosen)
            self._option_changed(editor.param.name, chosen)

    def _edit(self, text: str, change) -> None:
        if not self._updating:
            self.document.edit(text, lambda project: change(project.data))

    def _source_changed(self, _index: int) -> None:
        source = self.source.currentData()
        if self._updating or source is None or source == self.document.project.data.source:
            return

        def change(data) -> None:
            data.source, data.options = source, {}

        self._edit(f"Use {source}", change)
        self.loadRequested.emit()

    def _task_changed(self, _index: int) -> None:
        task = self.task.currentData()
        if self._updating or task == self.document.project.data.task:
            return
        self._edit(f"Train {task or 'the task the data gives'}", lambda d: setattr(d, "task", task))
        self.loadRequested.emit()  # the preview and the columns show what the data now becomes

    def _column_type_chosen(self, name: str, kind: str | None) -> None:
        def change(data) -> None:
            columns = dict(data.options.get("columns") or {})
            if kind is None:
                columns.pop(name, None)
            else:
                columns[name] = kind
            if columns:
                data.options["columns"] = columns
            else:
                data.options.pop("columns", None)

        self._edit(f"Set the type of {name}", change)
        self.loadRequested.emit()  # the table shows what the data now becomes

    def _option_changed(self, name: str, value: Any) -> None:
        def change(data) -> None:
            if value is None:
                data.options.pop(name, None)
            else:
                data.options[name] = value

        self._edit(f"Set {name}", change)

    def _add_augment(self, index: int) -> None:
        from studio.core.project.edits import new_augmentation

        if index <= 0:
            return
        name = self.add_augment.itemText(index)
        self.add_augment.setCurrentIndex(0)
        item = new_augmentation(name, self.document.project.model.input_shape)
        self._edit(f"Add {name}", lambda d: d.augment.append(item))

    def _show_augment_args(self) -> None:
        """Editors for the selected augmentation's arguments; kept (and the focus with them) while
        the same one stays selected, so typing in one is not interrupted by its own edit."""
        from studio.core.catalogue import components

        row = self.augment.currentRow()
        items = self.document.project.data.augment
        chosen = (row, items[row].type) if 0 <= row < len(items) else None
        if (
            chosen == self._augment_shown and chosen is not None
        ):  # same one: new values (undo), in place
            focused = QApplication.focusWidget()
            for name, editor in self.augment_editors.items():
                if focused is None or not editor.isAncestorOf(focused):
                    editor.set_value(items[row].args.get(name, editor.param.default))
            return
        self._augment_shown = chosen
        self.augment_editors = {}
        while self.augment_form.rowCount():
            self.augment_form.removeRow(0)
        if chosen is None:
            return
        item = items[row]
        for param in components.augmentations()[item.type].params:
            editor = ParamEditor(param, item.args.get(param.name, param.default))
            editor.committed.connect(
                lambda name, value, row=row: self._augment_arg_changed(row, name, value)
            )
            self.augment_form.addRow(param.name, editor)
            self.augment_editors[param.name] = editor

    def _augment_arg_changed(self, row: int, name: str, value: Any) -> None:
        def change(data) -> None:
            args = data.augment[row].args
            if value is None:
                args.pop(name, None)
            else:
                args[name] = value

        self._edit(f"Set {name}", change)

    def _remove_augment(self) -> None:
        row = self.augment.currentRow()
        if row >= 0:
            self._edit("Remove augmentation", lambda d: d.augment.pop(row))

    # ---------------------------------------------------------------- loading and preview

    def loading(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on)
        self.load_button.setEnabled(not on)
        if on:
            self.progress.setRange(0, 0)
            self.status.setText("Loading…")

    def report_progress(self, what: str, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(done)
        self.progress.setFormat(f"{what} %p%" if total else what)

    def show_error(self, message: str) -> None:
        self.loading(False)
        self.status.setText(f"<span style='color:#ff8080'>{message}</span>")

    def show_dataset(self, dataset) -> None:
        self.loading(False)
        self.task.setItemText(0, f"From the data ({dataset.task})")
        self.status.setText(describe(dataset))
        self.preview.show_dataset(dataset)
        self._show_counts(dataset)
        table = dataset.table
        overrides = self.document.project.data.options.get("columns") or {}
        self.columns.show_columns(table.describe() if table is not None else [], overrides)

    def _show_counts(self, dataset) -> None:
        counts = dataset.class_counts or list(dataset.pixel_counts.values())[: dataset.num_classes]
        self.counts_plot.clear()
        self.counts_plot.setVisible(bool(counts))
        self.counts_plot.setTitle(f"Training {COUNTED.get(dataset.task, 'samples')} per class",
                                  size="9pt")  # fmt: skip
        if counts:
            bars = pg.BarGraphItem(
                x=list(range(len(counts))),
                height=counts,
                width=0.7,
                brushes=_brushes(dataset, len(counts)),
            )
            self.counts_plot.addItem(bars)
            axis = self.counts_plot.getAxis("bottom")
            step = max(1, len(counts) // 10)
            axis.setTicks([[(i, dataset.classes[i][:8]) for i in range(0, len(counts), step)]])


def _brushes(dataset, count: int) -> list:
    """The bars' colours: a detection's classes in their boxes' colours, else all blue."""
    if dataset.task != "detection":
        return ["#4f9dff"] * count
    from studio.core.data.detection import colour

    return [pg.mkBrush(*colour(i)) for i in range(count)]
