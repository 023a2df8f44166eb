"""Loads the open project's dataset and trains it, each as a background task (tasks.py).

The views never see a thread: they call `load_dataset`, `train`, `toggle_pause`, `stop` and listen
to the signals below, which always arrive on the GUI thread.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.core.model.backbones import preparation
from studio.gui.document import ProjectDocument
from studio.gui.tasks import Task, TaskRunner

SIGNAL_SECONDS = 0.1  # training events reach the window in batches at most this often
URGENT = frozenset({"start", "epoch", "stop", "checkpoint"})  # these are sent at once


class TrainingActions(QObject):
    datasetLoading = Signal()
    datasetProgress = Signal(str, int, int)  # what, done, total
    datasetLoaded = Signal(object)  # a core Dataset
    datasetFailed = Signal(str)
    datasetNotReady = Signal(str)  # why it was not loaded (the files are not downloaded)
    trainingStarted = Signal()
    trainingEvents = Signal(list)  # metrics events (docs/cli.md), oldest first
    trainingDone = Signal(dict)  # reason, message, run_dir
    trainingFailed = Signal(str)
    runningChanged = Signal(bool, bool)  # running, paused

    def __init__(self, document: ProjectDocument, tasks: TaskRunner, parent: QObject):
        super().__init__(parent)
        self.document, self.tasks = document, tasks
        self._prepared = None  # how the loaded images were prepared for the model's first layer
        document.changed.connect(self._model_changed)
        self.dataset = None  # the last dataset loaded (its preview is on screen)
        self._loading: Task | None = None
        self._loaded_for: str = ""  # the data settings (as JSON) the running load reads
        self._training: Task | None = None
        self._control = None  # the running fit's TrainControl

    @property
    def running(self) -> bool:
        """A run is training (from Train until its task has ended)."""
        return self._training is not None

    @property
    def loading(self) -> bool:
        return self._loading is not None

    # ---------------------------------------------------------------- data

    def load_dataset(self) -> None:
        from studio.core.data import SOURCES

        if self._loading is not None:  # asked again meanwhile: its result is checked at the end
            return
        if self.tasks.closed:
            return
        spec, base = self.document.project.data, self.document.base_dir
        source = SOURCES[spec.source]
        ready = (
            source.offline or source.downloaded(spec.options, base) or spec.options.get("download")
        )
        if not ready:
            self.datasetNotReady.emit(
                "The files are not downloaded yet: set download and press Load preview."
            )
            return
        self._prepared = preparation(self.document.project.model.layers)
        project = self.document.project.copy()
        self._loaded_for = self._data_settings()

        def work(task: Task):
            from studio.core.data import load_project_data

            return load_project_data(
                project,
                base,
                progress=lambda what, done, total: task.report((what, done, total)),
                cancelled=lambda: task.cancelled,
            )

        self.datasetLoading.emit()
        self._loading = self.tasks.run(
            "load dataset",
            work,
            done=self._dataset_loaded,
            failed=self._dataset_failed,
            progress=lambda value: self.datasetProgress.emit(*value),
        )

    def _model_changed(self) -> None:
        """A pretrained backbone put first (or taken away, or another one) wants the images
        prepared otherwise: load them again."""
        if (
            self.dataset is not None
            and self._loading is None
            and preparation(self.document.project.model.layers) != self._prepared
        ):
            self.load_dataset()

    def cancel_dataset(self) -> None:
        if self._loading is not None:
            self._loading.cancel()

    def _data_settings(self) -> str:
        """The open project's data settings and where they are read from, to compare."""
        import json

        return json.dumps([str(self.document.base_dir), self.document.project.to_dict()["data"]])

    def _dataset_loaded(self, dataset) -> None:
        self._loading = None
        if self._data_settings() != self._loaded_for:  # another project, or other data, since
            self.load_dataset()
            return
        self.dataset = dataset
        self.datasetLoaded.emit(dataset)
        shape, classes = list(dataset.input_shape), dataset.num_classes

        def fit(project) -> None:
            """The model takes the data's samples; a Linear head gives one score a class."""
            project.model.input_shape = shape
            last = project.model.layers[-1] if project.model.layers else None
            if classes and last is not None and last.type == "Linear":
                last.args["out_features"] = classes

        self.document.edit("Fit the model to the dataset", fit)
        self._model_changed()  # the model changed while the data was loading

    def _dataset_failed(self, message: str) -> None:
        self._loading = None
        if self._data_settings() != self._loaded_for:
            self.load_dataset()
            return
        self.datasetFailed.emit(message)

    # ---------------------------------------------------------------- training

    def train(self) -> bool:
        """Start training a copy of the project; False when a run is already going."""
        from studio.core.runs.folder import default_runs_dir
        from studio.core.train.control import TrainControl

        if self._training is not None or self.tasks.closed:
            return False
        document = self.document
        project, base = document.project.copy(), document.base_dir
        runs_dir, control = default_runs_dir(document.path), TrainControl()

        def work(task: Task) -> dict[str, Any]:
            from studio.core.train.loop import fit

            batches = EventBatches(task.report)
            try:
                result = fit(
                    project,
                    callbacks=[batches],
                    control=control,
                    runs_dir=runs_dir,
                    base_dir=base,
                    report_seconds=0.1,
                )
            finally:
                batches.send()
            where = str(result.run_dir) if result.run_dir else None
            return {"reason": result.reason, "message": result.message, "run_dir": where}

        self._control = control
        self._training = self.tasks.run(
            "train",
            work,
            done=self._training_done,
            failed=self._training_failed,
            progress=self.trainingEvents.emit,
            on_cancel=control.stop,
        )
        self.trainingStarted.emit()
        self.runningChanged.emit(True, False)
        return True

    def toggle_pause(self) -> None:
        control = self._control
        if self._training is None or control is None:
            return
        control.resume() if control.paused else control.pause()
        self.runningChanged.emit(True, control.paused)

    def stop(self) -> None:
        if self._training is not None:
            self._training.cancel()

    def _training_done(self, result: dict) -> None:
        self._ended()
        self.trainingDone.emit(result)

    def _training_failed(self, message: str) -> None:
        self._ended()
        self.trainingFailed.emit(message)

    def _ended(self) -> None:
        self._training, self._control = None, None
        self.runningChanged.emit(False, False)


class EventBatches:
    """A fit's observer (callbacks.py's shape, so no Qt is needed): its events go to `send` in
    lists, at most every SIGNAL_SECONDS, the ones a user waits for (URGENT) at once. Thousands of
    queued signals a second would freeze the window however cheap each is."""

    def __init__(self, send) -> None:
        self._send, self._pending, self._sent = send, [], 0.0

    def on_event(self, event: dict[str, Any]) -> None:
        self._pending.append(event)
        now = time.monotonic()
        if event["event"] in URGENT or now - self._sent >= SIGNAL_SECONDS:
            self._sent = now
            self.send()

    def send(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self._send(batch)

    def close(self) -> None:
        pass
