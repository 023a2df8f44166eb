"""The Export dialog: one trained run, a format, where to write it; the export runs in the
background and the dialog lists what was checked (or the one reason it could not be done)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.use.export import EXTENSIONS, export_file_name

FORMAT_TITLES = {
    "state_dict": "PyTorch state_dict (.pt)",
    "safetensors": "safetensors (.safetensors)",
    "pt2": "torch.export program (.pt2)",
    "onnx": "ONNX (.onnx), checked with onnxruntime",
    "python": "Python script (.py), plain PyTorch code",
}


class ExportDialog(QDialog):
    exportRequested = Signal(str, str, str, bool)  # run directory, format, output path, quantize

    def __init__(self, runs: list, project_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.project_name = project_name
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export model")
        self.setMinimumWidth(620)
        self.runs = QComboBox()
        self.runs.setObjectName("exportRun")
        for run in runs:  # listing.Run, newest first
            self.runs.addItem(run.label, str(run.path))
        self.format = QComboBox()
        self.format.setObjectName("exportFormat")
        for key, title in FORMAT_TITLES.items():
            self.format.addItem(title, key)
        self.quantize = QCheckBox("int8 dynamic quantisation (Linear, LSTM, GRU)")
        self.quantize.setObjectName("exportQuantize")
        self.quantize.setToolTip(
            "A smaller copy for CPU inference; its size and accuracy are reported"
        )
        self.path = QLineEdit()
        self.path.setObjectName("exportPath")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.path, 1)
        where.addWidget(browse)
        form = QFormLayout()
        form.addRow("Run", self.runs)
        form.addRow("Format", self.format)
        form.addRow("", self.quantize)
        form.addRow("Save to", where)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setVisible(False)
        self.result = QPlainTextEdit()
        self.result.setObjectName("exportResult")
        self.result.setReadOnly(True)
        self.result.setPlaceholderText(
            "Each export is reloaded with its own runtime and compared with the model."
        )
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setObjectName("exportButton")
        self.export_button.clicked.connect(self._request)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.result, 1)
        layout.addWidget(buttons)
        self.format.currentIndexChanged.connect(self._format_changed)
        self.runs.currentIndexChanged.connect(self._format_changed)
        self.quantize.toggled.connect(self._format_changed)
        self._format_changed()

    def _default_path(self) -> str:
        run = self.runs.currentData()
        if not run:
            return ""
        quantize = "dynamic" if self.quantize.isChecked() else None
        return str(
            Path(run)
            / "exports"
            / export_file_name(self.project_name, self.format.currentData(), quantize)
        )

    def _format_changed(self) -> None:
        fmt = self.format.currentData()
        self.quantize.setEnabled(fmt == "state_dict")
        if fmt != "state_dict":
            self.quantize.setChecked(False)
        self.path.setText(self._default_path())
        self.export_button.setEnabled(self.runs.count() > 0)

    def _browse(self) -> None:
        fmt = self.format.currentData()
        path, _ = QFileDialog.getSaveFileName(
            self, "Export to", self.path.text(), f"{FORMAT_TITLES[fmt]} (*{EXTENSIONS[fmt]})"
        )
        if path:
            self.path.setText(path)

    def _request(self) -> None:
        if not self.path.text().strip():
            self.result.setPlainText("Choose where to save the export.")
            return
        self.exportRequested.emit(
            self.runs.currentData(),
            self.format.currentData(),
            self.path.text().strip(),
            self.quantize.isChecked(),
        )

    def set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.export_button.setEnabled(not busy)
        if busy:
            self.result.setPlainText("Exporting, reloading and checking…")

    def show_result(self, result) -> None:
        lines = [f"Exported {result.format}: {result.path}  ({result.size_bytes / 1024:.1f} KiB)"]
        lines += [f"  with {f}" for f in result.files[1:]]
        lines.append(f"  sidecar {result.sidecar}")
        lines.append("")
        lines += [f"✓ {check}" for check in result.checks]
        self.result.setPlainText("\n".join(lines))

    def show_error(self, message: str) -> None:
        self.result.setPlainText(f"✗ Export failed, nothing was written.\n\n{message}")
