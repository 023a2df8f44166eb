"""The training panel: settings from the project's `training`, device (this computer's and each
host's, device_selector.py) and precision, the run controls, a progress bar with epoch, step,
samples/s and ETA, and a log."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.project.spec import MONITORS, Component, EarlyStopping, FineTune
from studio.gui.views.device_selector import DeviceSelector
from studio.gui.views.diagnostics_panel import DiagnosticsPanel
from studio.gui.views.param_editors import CompactComboBox


class TrainingPanel(QWidget):
    trainRequested = Signal()
    pauseToggled = Signal()
    stopRequested = Signal()

    def __init__(self, document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self._updating = False
        self._remote = False  # the run going trains on a host: it cannot pause
        self._make_settings()
        self._make_run_controls()
        self._lay_out()
        self.set_running(False)
        self.train_button.clicked.connect(self.trainRequested)
        self.pause_button.clicked.connect(self.pauseToggled)
        self.stop_button.clicked.connect(self.stopRequested)
        self._wire()
        self._started = 0.0
        self._speed = None
        self._start_event: dict[str, Any] = {}

    def _make_settings(self) -> None:
        """An editor for each training setting, from epochs and loss to device and precision."""
        self.epochs = QSpinBox(objectName="epochsSpin", minimum=1, maximum=100000)
        self.loss = CompactComboBox(objectName="lossCombo")
        self.optimizer = CompactComboBox(objectName="optimizerCombo")
        self.lr = QLineEdit(objectName="lrEdit")
        self.lr.setToolTip("learning rate, e.g. 0.001 or 1e-3")
        self.scheduler = CompactComboBox(objectName="schedulerCombo")
        self.seed = QSpinBox(objectName="seedSpin", minimum=0, maximum=2**31 - 1)
        self.early = QCheckBox("stop when", objectName="earlyStopping")
        self.monitor = CompactComboBox(objectName="monitorCombo")
        self.monitor.addItems(list(MONITORS))
        self.patience = QSpinBox(
            objectName="patienceSpin", minimum=0, maximum=1000, suffix=" epochs"
        )
        self.patience.setToolTip("epochs in a row without improvement before training stops")
        self.clip = QCheckBox("clip at", objectName="gradClip")
        self.clip_value = QDoubleSpinBox(
            objectName="gradClipValue", minimum=0.001, maximum=1e6, decimals=3, value=1.0
        )
        self.fine_tune = QCheckBox("after", objectName="fineTune")
        self.fine_tune.setToolTip(
            "Fine-tune pretrained backbones: frozen for these epochs (the new head learns first), "
            "then trained too, at the learning rate times the factor"
        )
        self.fine_tune_epochs = QSpinBox(
            objectName="fineTuneEpochs", minimum=0, maximum=1000, value=1, suffix=" frozen epochs"
        )
        self.fine_tune_factor = QDoubleSpinBox(
            objectName="fineTuneFactor",
            minimum=0.0001,
            maximum=1.0,
            decimals=4,
            value=0.01,
            prefix="lr × ",
        )
        self.compile = QCheckBox("torch.compile the model", objectName="compileModel")
        self.compile.setToolTip("Faster steps on some models and devices, after a slow first one")
        self.device = DeviceSelector()
        self.precision = CompactComboBox(objectName="precisionCombo")

    def _make_run_controls(self) -> None:
        """Train, Pause and Stop, the progress bar, the diagnostics and the training log."""
        self.train_button = QPushButton("Train", objectName="trainButton")
        self.pause_button = QPushButton("Pause", objectName="pauseButton")
        self.stop_button = QPushButton("Stop", objectName="stopButton")
        self.progress = QProgressBar(objectName="trainProgress")
        self.progress.setTextVisible(True)
        self.progress.setFormat("ready")
        self.progress.setValue(0)  # a bar with no value shows no text
        # its text changes every report: it must never resize the dock (and with it the plots)
        self.progress.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.diagnostics = DiagnosticsPanel()  # Check and Find learning rate
        self.log = QPlainTextEdit(objectName="trainLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.log.setMinimumHeight(90)

    def _lay_out(self) -> None:
        """The run buttons and progress, the settings form, the diagnostics and the log."""
        buttons = QHBoxLayout()
        for b in (self.train_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        form = self._settings_form()
        layout = QVBoxLayout(self)  # the run controls first: reachable without scrolling
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addLayout(form)
        layout.addWidget(self.diagnostics)
        layout.addWidget(self.log, 1)

    def _settings_form(self) -> QFormLayout:
        """The settings as a labelled form, each switch in a row with its value."""
        form = QFormLayout()
        form.addRow("Epochs", self.epochs)
        form.addRow("Loss", self.loss)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Learning rate", self.lr)
        form.addRow("LR schedule", self.scheduler)
        form.addRow("Seed", self.seed)
        early_row = QHBoxLayout()
        early_row.addWidget(self.early)
        early_row.addWidget(self.monitor, 1)
        form.addRow("Early stopping", early_row)
        form.addRow("Patience", self.patience)
        clip_row = QHBoxLayout()
        clip_row.addWidget(self.clip)
        clip_row.addWidget(self.clip_value, 1)
        form.addRow("Gradient norm", clip_row)
        form.addRow("Device", self.device)
        form.addRow("", self.device.status)  # hosts that did not answer
        form.addRow("Precision", self.precision)
        tune_row = QHBoxLayout()
        tune_row.addWidget(self.fine_tune)
        tune_row.addWidget(self.fine_tune_epochs, 1)
        form.addRow("Fine-tune", tune_row)
        form.addRow("", self.fine_tune_factor)
        form.addRow("Compile", self.compile)
        return form

    # ---------------------------------------------------------------- project <-> widgets

    def populate(self, devices) -> None:
        from studio.core.catalogue import components

        self._updating = True
        self.loss.addItems(list(components.LOSSES))
        self.optimizer.addItems(list(components.OPTIMIZERS))
        self.scheduler.addItem("none")
        self.scheduler.addItems(list(components.SCHEDULERS))
        self.device.add_local(devices)
        self._updating = False
        self.show_project()

    def show_task(self, dataset) -> None:
        """Offer the metrics the loaded data's task reports (a segmentation's val_miou, ...)."""
        from studio.core.tasks import make_task

        metrics = ["val_loss", "train_loss", *make_task(dataset.task, "", dataset.classes).metrics]
        current = self.monitor.currentText()
        self.monitor.blockSignals(True)
        self.monitor.clear()
        self.monitor.addItems(metrics + ([current] if current not in metrics else []))
        self.monitor.setCurrentText(current)
        self.monitor.blockSignals(False)

    def show_project(self) -> None:
        t = self.document.project.training
        self._updating = True
        try:
            self.epochs.setValue(t.epochs)
            self.loss.setCurrentText(t.loss.type)
            self.optimizer.setCurrentText(t.optimizer.type)
            self.lr.setText(f"{t.optimizer.args.get('lr', '')}")
            self.scheduler.setCurrentText(t.scheduler.type if t.scheduler else "none")
            self.seed.setValue(t.seed)
            self.early.setChecked(t.early_stopping is not None)
            if t.early_stopping:
                self.monitor.setCurrentText(t.early_stopping.monitor)
                self.patience.setValue(t.early_stopping.patience)
            self.clip.setChecked(t.grad_clip is not None)
            if t.grad_clip:
                self.clip_value.setValue(t.grad_clip)
            self.fine_tune.setChecked(t.fine_tune is not None)
            if t.fine_tune is not None:
                self.fine_tune_epochs.setValue(t.fine_tune.frozen_epochs)
                self.fine_tune_factor.setValue(t.fine_tune.lr_factor)
            self.compile.setChecked(t.compile)
            self.device.setCurrentIndex(max(0, self.device.index_of(t.device)))
            self._fill_precisions()
            self.precision.setCurrentText(t.precision)
        finally:
            self._updating = False

    def add_host_devices(self, name: str, devices: list[dict[str, Any]]) -> None:
        """A host's devices (check_host's), listed after this computer's."""
        self._updating = True
        self.device.add_host(name, devices)
        self._updating = False
        self.show_project()  # the host's device chosen again if it was (undo, reopening)

    def _fill_precisions(self) -> None:
        offered = self.device.precisions()
        self.precision.blockSignals(True)
        current = self.precision.currentText()
        self.precision.clear()
        self.precision.addItems(offered)
        self.precision.setCurrentText(current if current in offered else "fp32")
        self.precision.blockSignals(False)

    def _wire(self) -> None:
        self.epochs.valueChanged.connect(
            lambda v: self._edit("Set epochs", lambda t: setattr(t, "epochs", v))
        )
        self.loss.currentTextChanged.connect(
            lambda v: self._edit("Set loss", lambda t: setattr(t, "loss", Component(v)))
        )
        self.optimizer.currentTextChanged.connect(self._optimizer_changed)
        self.lr.editingFinished.connect(self._lr_changed)
        self.scheduler.currentTextChanged.connect(self._scheduler_changed)
        self.seed.valueChanged.connect(
            lambda v: self._edit("Set seed", lambda t: setattr(t, "seed", v))
        )
        for signal in (
            self.early.toggled,
            self.monitor.currentTextChanged,
            self.patience.valueChanged,
        ):
            signal.connect(self._early_changed)
        for signal in (self.clip.toggled, self.clip_value.valueChanged):
            signal.connect(
                lambda *_: self._edit(
                    "Set gradient clipping",
                    lambda t: setattr(
                        t, "grad_clip", self.clip_value.value() if self.clip.isChecked() else None
                    ),
                )
            )
        for signal in (
            self.fine_tune.toggled,
            self.fine_tune_epochs.valueChanged,
            self.fine_tune_factor.valueChanged,
        ):
            signal.connect(self._fine_tune_changed)
        self.compile.toggled.connect(
            lambda on: self._edit("Set compile", lambda t: setattr(t, "compile", on))
        )
        self.device.currentIndexChanged.connect(self._device_changed)
        self.precision.currentTextChanged.connect(
            lambda v: v and self._edit("Set precision", lambda t: setattr(t, "precision", v))
        )

    def _edit(self, text: str, change) -> None:
        if not self._updating:
            self.document.edit(text, lambda project: change(project.training))

    def _scheduler_changed(self, name: str) -> None:
        from studio.core.project.edits import new_scheduler

        chosen = None if name == "none" else new_scheduler(name)
        self._edit("Set LR schedule", lambda t: setattr(t, "scheduler", chosen))

    def _optimizer_changed(self, name: str) -> None:
        lr = self._parse_lr() or 0.001
        self._edit("Set optimizer", lambda t: setattr(t, "optimizer", Component(name, {"lr": lr})))

    def _parse_lr(self) -> float | None:
        try:
            value = float(self.lr.text())
        except ValueError:
            return None
        return value if value > 0 and value == value and value != float("inf") else None

    def _lr_changed(self) -> None:
        value = self._parse_lr()
        self.lr.setProperty("invalid", value is None)
        self.lr.setToolTip(
            "expected a positive number, e.g. 0.001" if value is None else "learning rate"
        )
        self.lr.style().unpolish(self.lr)
        self.lr.style().polish(self.lr)
        if value is not None:
            self._edit("Set learning rate", lambda t: t.optimizer.args.__setitem__("lr", value))

    def _fine_tune_changed(self, *_: object) -> None:
        chosen = None
        if self.fine_tune.isChecked():
            chosen = FineTune(
                self.fine_tune_epochs.value(), round(self.fine_tune_factor.value(), 6)
            )
        self._edit("Set fine-tuning", lambda t: setattr(t, "fine_tune", chosen))

    def _early_changed(self, *_: object) -> None:
        on = self.early.isChecked()
        self._edit(
            "Set early stopping",
            lambda t: setattr(
                t,
                "early_stopping",
                EarlyStopping(self.monitor.currentText(), self.patience.value()) if on else None,
            ),
        )

    def _device_changed(self, *_: object) -> None:
        host, device = self.device.chosen()
        if not self._updating:  # chosen by the user (show_project keeps the host it shows)
            self.device.choose_host(host)
        self._fill_precisions()
        self._edit("Set device", lambda t: setattr(t, "device", device))

    # ---------------------------------------------------------------- running

    def set_remote(self, host: str) -> None:
        """The run going trains on `host` ("": here), which cannot pause it."""
        self._remote = bool(host)
        tip = f"A run on {host} cannot pause: Stop ends it after its batch" if host else ""
        self.pause_button.setToolTip(tip)

    def set_running(self, running: bool, paused: bool = False) -> None:
        self.train_button.setEnabled(not running)
        self.diagnostics.set_enabled(not running)
        self.pause_button.setEnabled(running and not self._remote)
        self.stop_button.setEnabled(running)
        self.pause_button.setText("Resume" if paused else "Pause")

    def clear(self) -> None:
        """A new run: an empty log and progress bar."""
        self.log.clear()
        self.progress.setValue(0)

    def add_events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.add_event(event)

    def add_event(self, event: dict[str, Any]) -> None:
        """The progress bar follows the run; the log says what the terminal says (events.py)."""
        from studio.core.train.events import describe

        kind = event["event"]
        if kind == "start":
            self._start_event, self._started = event, time.monotonic()
            self.progress.setRange(0, max(1, event["epochs"] * event["steps_per_epoch"]))
            self.progress.setValue(0)
        elif kind in ("step", "epoch"):
            self._progress(event)
        elif kind == "download":  # pretrained weights, before the run starts
            done, total = event["done"] // 2**20, max(1, event["total"]) // 2**20
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(min(done, total))
            self.progress.setFormat(f"{event['what']}: {done} of {total} MB")
        elif kind == "compile":  # the first steps compile: said in the bar, not a stuck epoch
            self.progress.setFormat("compiling the model (the first steps take longer)…")
        elif kind == "compiled":
            self._started += event["seconds"]  # the ETA counts training steps only
            self.progress.setFormat(f"compiled in {event['seconds']:.1f} s · training…")
        line = describe(event, self._start_event.get("epochs"))
        if line is not None:
            self.log.appendPlainText(line)

    def _progress(self, event: dict[str, Any]) -> None:
        start = self._start_event
        total = max(1, start.get("epochs", 1) * start.get("steps_per_epoch", 1))
        done = min(total, event["step"])
        self.progress.setValue(done)
        elapsed = time.monotonic() - self._started
        eta = elapsed / done * (total - done) if done else 0
        speed = event.get("samples_per_second", self._speed)
        self._speed = speed
        speed_text = f" · {speed:,.0f} samples/s" if speed else ""
        self.progress.setFormat(
            f"epoch {event['epoch']}/{start.get('epochs', '?')} · step {event['step']}"
            f"{speed_text} · ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        )

    def finish(self, text: str, complete: bool) -> None:
        if complete:
            self.progress.setValue(self.progress.maximum())
        self.progress.setFormat(text)
        self.set_running(False)
