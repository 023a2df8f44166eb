"""The Data panel's table of a CSV's columns: each column, the type it was given (number,
category, ignored, target) with a combo box to change it, and what the studio noted about it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
)

from studio.gui.views.param_editors import CompactComboBox

CHOICES = ("number", "category", "ignore")


class ColumnTypesTable(QTableWidget):
    """`typeChosen(name, type)`: the user set a column's type; None means "decide from the data"."""

    typeChosen = Signal(str, object)

    def __init__(self, parent=None):
        super().__init__(0, 3, parent)
        self.setObjectName("columnTypes")
        self.setHorizontalHeaderLabels(["Column", "Type", "Note"])
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.hide()

    def show_columns(self, rows: list[dict[str, Any]], overrides: dict[str, str]) -> None:
        """One row a column (TableEncoding.describe()); `overrides` are the user's own choices."""
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            name = QTableWidgetItem(row["name"])
            self.setItem(r, 0, name)
            note = QTableWidgetItem(
                row["note"] or (f"{row['width']} features" if row["width"] > 1 else "")
            )
            note.setToolTip(row["note"])
            self.setItem(r, 2, note)
            if row["type"] == "target":
                self.setCellWidget(r, 1, None)
                self.setItem(r, 1, QTableWidgetItem("target"))
                continue
            combo = CompactComboBox()
            combo.setObjectName(f"columnType_{row['name']}")
            shown = "ignored" if row["type"] == "ignore" else row["type"]
            combo.addItem(f"auto ({shown})", None)
            for choice in CHOICES:
                combo.addItem("ignored" if choice == "ignore" else choice, choice)
            combo.setCurrentIndex(max(0, combo.findData(overrides.get(row["name"]))))
            combo.currentIndexChanged.connect(
                lambda _i, c=combo, n=row["name"]: self.typeChosen.emit(n, c.currentData())
            )
            self.setCellWidget(r, 1, combo)
        self.setVisible(bool(rows))
        height = self.horizontalHeader().height() + sum(self.rowHeight(r) for r in range(len(rows)))
        self.setFixedHeight(min(height + 4, 240))

    def type_of(self, name: str) -> str | None:
        """What a column's row shows: its combo box's choice (None: auto), or "target"."""
        for r in range(self.rowCount()):
            if self.item(r, 0).text() == name:
                combo = self.cellWidget(r, 1)
                return combo.currentData() if isinstance(combo, QComboBox) else "target"
        raise KeyError(name)
