"""The Import model dialog: a model's code (a Python file and the class or function in it that
builds the model), an ONNX file or a torch.export program, with its input shape, keyword
arguments and weights. Every field is checked as it is typed; the import itself runs in the
background (actions/import_actions.py) and the dialog shows its report, node by node, on failure
too, and offers the imported stack for the open project.

A Python file's classes and functions are found by parsing it (`ast`), never by running it: only
Import runs the file, and the dialog says so before it does."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import first_line
from studio.core.imports.sources import split_source
from studio.gui.views.import_fields import (
    WEIGHT_KINDS,
    ImportRequest,
    Symbol,
    args_problem,
    literal,
    model_symbols,
    parse_shape,
    source_problem,
    typed_path,
    weights_problem,
)


def _mark(widget: QWidget, problem: str | None, tip: str = "") -> None:
    """Red where the value is wrong, with why as its tooltip (the style sheet's `invalid`)."""
    widget.setProperty("invalid", problem is not None)
    widget.setToolTip(f"expected {problem}" if problem else tip)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def _browse_row(field: QWidget, slot) -> QHBoxLayout:
    button = QPushButton("Browse…")
    button.clicked.connect(slot)
    row = QHBoxLayout()
    row.addWidget(field, 1)
    row.addWidget(button)
    return row


_ACCENT = "QPushButton { background: #3d6fd8; border-color: #4f82ea; color: white; }"
_COLOURS = {"✓": "#7ee787", "✗": "#ff7b72"}  # what an import came to, by its first character
_CHANGED = "The fields changed since the last import: press Import to import them."


class ImportDialog(QDialog):
    importRequested = Signal(object)  # an ImportRequest
    applyRequested = Signal()  # "Use this model": the last import, into the open project

    def __init__(self, start_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("importDialog")
        self.setWindowTitle("Import model")
        self.start_dir = start_dir
        self.busy = False
        self.symbols: list[Symbol] = []
        self._parsed: Path | None = None
        self._said = ""  # what the last import (or the one running) came to
        self._began = False  # an import began: an edit from then on makes what it came to stale
        self.stale = False  # a field changed since the last import began (until the next one)
        self._args_tip = ""
        self._args_hint = ""
        self._build_fields()
        self._build_results()
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.runs_code)
        layout.addLayout(self.status_row)
        layout.addWidget(self.report, 1)
        layout.addLayout(self.buttons)
        for field in (self.source, self.shape, self.args, self.weights):
            field.textChanged.connect(self._field_edited)
        self.symbol.currentTextChanged.connect(self._symbol_changed)
        self._fit_to_screen()
        self.validate()

    def _build_fields(self) -> None:
        self.source = QLineEdit(objectName="importSource")
        self.source.setPlaceholderText("model.py, model.onnx or program.pt2")
        self.symbol = QComboBox(objectName="importSymbol")
        self.symbol.setEditable(True)
        self.symbol.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.shape = QLineEdit(objectName="importInputShape")
        self.args = QLineEdit(objectName="importArgs")
        self.weights = QLineEdit(objectName="importWeights")
        self.weights.setPlaceholderText(f"optional: {WEIGHT_KINDS}")
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.addRow("Model file", _browse_row(self.source, self._browse_source))
        self.form.addRow("Class or function", self.symbol)
        self.form.addRow("Input shape", self.shape)
        self.form.addRow("Keyword arguments", self.args)
        self.form.addRow("Weights", _browse_row(self.weights, self._browse_weights))
        self.runs_code = QLabel(objectName="importRunsCode")
        self.runs_code.setWordWrap(True)
        self.runs_code.setStyleSheet("color: #ffb347")
        self.runs_code.hide()

    def _build_results(self) -> None:
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(120)
        self.progress.hide()
        self.status = QLabel(objectName="importStatus")
        self.status.setWordWrap(True)
        self.status_row = QHBoxLayout()
        self.status_row.addWidget(self.progress)
        self.status_row.addWidget(self.status, 1)
        self.report = QPlainTextEdit(objectName="importReport")
        self.report.setReadOnly(True)
        self.report.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.report.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.report.setPlaceholderText(
            "The report goes here: what each part of the model became in the stack, what has "
            "no equivalent and where it is in the code, and the check of the imported stack "
            "against the model on a random batch."
        )
        self.import_button = QPushButton("Import", objectName="importButton")
        self.import_button.setToolTip("Read the model, trace it and check the stack against it")
        self.import_button.clicked.connect(self._request)
        self.apply_button = QPushButton("Use this model", objectName="importApply")
        self.apply_button.setToolTip("Replace the open project's model with the imported stack")
        self.apply_button.setStyleSheet(_ACCENT)
        self.apply_button.clicked.connect(self.applyRequested)
        self.apply_button.hide()
        close = QPushButton("Close")
        close.setAutoDefault(False)
        close.clicked.connect(self.reject)
        self.buttons = QHBoxLayout()
        self.buttons.addStretch(1)
        for button in (self.import_button, self.apply_button, close):
            self.buttons.addWidget(button)
        self._default(self.import_button)

    def _default(self, button: QPushButton) -> None:
        """The button Enter presses: Import, or Use this model once there is one to use."""
        for other in (self.import_button, self.apply_button):
            other.setAutoDefault(other is button)
            other.setDefault(other is button)

    def _fit_to_screen(self) -> None:
        screen = (self.parentWidget() or self).screen() or QGuiApplication.primaryScreen()
        room = screen.availableGeometry()
        self.resize(min(960, int(room.width() * 0.9)), min(640, int(room.height() * 0.85)))

    def reopened(self, start_dir: Path) -> None:
        """Opened again: browsing starts at the project's folder, the file is read again."""
        self.start_dir = start_dir
        self._parsed = None
        self.validate()

    # ---------------------------------------------------------------- the fields

    @property
    def is_python(self) -> bool:
        """Python code, told as the core tells it (`split_source`, `read_source`): any case."""
        path = typed_path(self.source.text())
        return path is not None and path.suffix.lower() == ".py"

    def _field_edited(self) -> None:
        self._note_edit()
        self.validate()

    def _note_edit(self) -> None:
        """A field changed after an import began: what it came to is not what the fields say,
        so *Use this model* goes until the next import, and the status says why."""
        if not self._began or self.stale:
            return
        self.stale = True
        self.apply_button.hide()
        self._default(self.import_button)
        if not self.busy:
            self._said = _CHANGED

    def _browse_source(self) -> None:
        kinds = (
            "Models (*.py *.onnx *.pt2);;Python code (*.py);;ONNX (*.onnx);;torch.export (*.pt2)"
        )
        path, _ = QFileDialog.getOpenFileName(self, "Import model", self._start(), kinds)
        if path:
            self.source.setText(path)

    def _browse_weights(self) -> None:
        kinds = "State dicts (*.pt *.pth *.safetensors *.bin *.ckpt);;All files (*)"
        path, _ = QFileDialog.getOpenFileName(self, "Weights for the model", self._start(), kinds)
        if path:
            self.weights.setText(path)

    def _start(self) -> str:
        text = self.source.text().strip()
        return str(Path(text).parent if text else self.start_dir)

    def _list_symbols(self, path: Path | None) -> None:
        """A newly chosen Python file: its classes and functions, the last module class chosen
        (a file's model is usually its last class, built from those before it)."""
        if path == self._parsed:
            return
        self._parsed = path
        self.symbols = model_symbols(path) if path is not None else []
        typed = self.symbol.currentText()
        self.symbol.blockSignals(True)
        self.symbol.clear()
        for symbol in self.symbols:
            self.symbol.addItem(symbol.name)
            where = f"{symbol.kind} {symbol.name}, line {symbol.line}"
            self.symbol.setItemData(self.symbol.count() - 1, where, Qt.ItemDataRole.ToolTipRole)
        classes = [s.name for s in self.symbols if s.kind == "class"]
        names = [s.name for s in self.symbols]
        chosen = typed if typed in names else (classes or names or [typed])[-1]
        self.symbol.setCurrentText(chosen)
        self.symbol.blockSignals(False)
        if chosen != typed:  # the file read again no longer has the name chosen
            self._note_edit()
        self._describe_symbol()

    def _symbol_changed(self) -> None:
        self._note_edit()
        self._describe_symbol()
        self.validate()

    def _describe_symbol(self) -> None:
        """The chosen class's or function's keyword arguments, as the arguments' hint."""
        symbol = next((s for s in self.symbols if s.name == self.symbol.currentText()), None)
        keywords = symbol.keywords if symbol is not None else {}
        given = {k: literal(v) for k, v in keywords.items() if v}
        example = json.dumps(dict(list(given.items())[:3])) if given else '{"num_classes": 10}'
        needs = [k for k, v in keywords.items() if not v]
        self._args_hint = f"required: {', '.join(needs)}" if needs else f"optional, e.g. {example}"
        self._args_tip = (
            f"The keyword arguments of {symbol.name}, as a JSON object: "
            + ", ".join(f"{k}={v}" if v else f"{k} (required)" for k, v in keywords.items())
            if keywords
            else "Keyword arguments for the class or function, as a JSON object"
        )

    def validate(self) -> None:
        """Mark what is wrong where it is typed; Import only when everything can be used."""
        problems = self._check_source() + self._check_values()
        python = self.is_python
        path = typed_path(self.source.text())
        name = path.name if path is not None else ""
        self.runs_code.setText(
            f"⚠ Import runs the code of {name} on this computer, as Python: import only code "
            "you trust."
        )
        self.runs_code.setVisible(python)
        self._placeholders(python, bool(name))
        self.import_button.setEnabled(not problems and not self.busy)
        said = self._said if self.busy or not problems else problems[0]
        self.status.setText(said or "Ready to import.")
        colour = _COLOURS.get(said[:1], "")
        self.status.setStyleSheet(f"color: {colour}" if colour else "")

    def _placeholders(self, python: bool, chosen: bool) -> None:
        """What each field wants, for the kind of file chosen (Python code, or a file that
        holds its graph and input shape)."""
        self.symbol.setEnabled(python)
        self.args.setEnabled(python)
        only = "only for Python code (.py)" if chosen else "for Python code (.py)"
        self.symbol.lineEdit().setPlaceholderText(
            "the class or function that builds the model" if python else only
        )
        self.args.setPlaceholderText(self._args_hint if python else only)
        self.shape.setPlaceholderText(
            "one sample's shape, e.g. 3 32 32 (needed for Python code)"
            if python or not chosen
            else "read from the file (or give one, e.g. 3 224 224)"
        )

    def _check_source(self) -> list[str]:
        """The file and, for Python code, the name in it (an empty field is said, not marked)."""
        source = typed_path(self.source.text())
        problem = source_problem(self.source.text())
        _mark(self.source, problem)
        python = problem is None and self.is_python
        self._list_symbols(source if python else None)
        if source is None or problem:
            return [f"Model file: {problem}" if problem else "Choose a model file."]
        symbol = self.symbol.currentText().strip()
        _mark(
            self.symbol,
            "a Python name" if python and symbol and not symbol.isidentifier() else None,
        )
        if python and not symbol.isidentifier():
            return ["Choose the class or function that builds the model."]
        return []

    def _check_values(self) -> list[str]:
        """The input shape, the keyword arguments and the weights file."""
        out, python = [], self.is_python
        try:
            shape = parse_shape(self.shape.text())
            _mark(self.shape, None, "One sample's shape, without the batch: 3 32 32")
            if python and shape is None:
                out.append("Give the input shape of one sample, e.g. 3 32 32.")
        except ValueError as exc:
            _mark(self.shape, str(exc))
            out.append(f"Input shape: expected {exc}")
        args = args_problem(self.args.text()) if python else None
        _mark(self.args, args, self._args_tip)
        out += [f"Keyword arguments: expected {args}"] if args else []
        weights = weights_problem(self.weights.text())
        _mark(self.weights, weights, "The model's weights: a state dict, loaded before the check")
        out += [f"Weights: {weights}"] if weights else []
        return out

    def request(self) -> ImportRequest:
        """What the fields say, read as they were checked (`typed_path`: `~` expanded)."""
        source, weights = typed_path(self.source.text()), typed_path(self.weights.text())
        python = self.is_python
        return ImportRequest(
            source=f"{source}:{self.symbol.currentText().strip()}" if python else str(source),
            input_shape=parse_shape(self.shape.text()),
            weights=str(weights) if weights is not None else None,
            args=(self.args.text().strip() or None) if python else None,
        )

    def _request(self) -> None:
        if self.import_button.isEnabled():
            self.importRequested.emit(self.request())

    # ---------------------------------------------------------------- what came back

    def set_busy(self, busy: bool, saying: str = "") -> None:
        self.busy = busy
        self.progress.setVisible(busy)
        if busy:
            self.apply_button.hide()
            self._default(self.import_button)
            self._said = saying
        self.validate()

    def _say(self, text: str) -> None:
        self._said = text
        self.set_busy(False)

    def importing(self, request: ImportRequest) -> None:
        python = self.is_python
        name = Path(split_source(request.source)[0]).name
        self._began, self.stale = True, False
        self.report.clear()
        self.set_busy(
            True,
            f"Importing: {'running' if python else 'reading'} {name}, tracing it and checking "
            "the stack against it…",
        )

    def show_imported(self, lines: list[str], layers: int, difference: float) -> None:
        self.report.setPlainText("\n".join(lines))
        if self.stale:  # edited while it ran: it is of the fields as they were
            self._say(_CHANGED)
            return
        self._say(
            f"✓ Imported: {layers} layers, the same output as the model (max abs difference "
            f"{difference:.3g}). “Use this model” makes it the open project's stack."
        )
        self.apply_button.show()
        self._default(self.apply_button)

    def show_failed(self, message: str, lines: list[str]) -> None:
        self.report.setPlainText(f"✗ {message}" + ("\n\n" + "\n".join(lines) if lines else ""))
        why = first_line(message).partition(": not imported: ")
        self._say(_CHANGED if self.stale else f"✗ Not imported: {why[2] or why[0]}")

    def applying(self, saying: str) -> None:
        self.set_busy(True, saying)

    def show_applied(self, message: str) -> None:
        self._say(f"✓ {message}")

    def show_not_applied(self, message: str) -> None:
        self._say(f"✗ Not used: {first_line(message)}")
        self.apply_button.setVisible(not self.stale)
