"""Loads the open project's dataset and trains it, each in a worker thread of its own.

The views never see a thread: they call `load_dataset`, `train`, `toggle_pause`, `stop` and listen
to the signals below, which always arrive on the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal, Slot

from studio.core.model.backbones import preparation
from studio.gui.document import ProjectDocument
from studio.gui.tasks import DatasetWorker, TrainingWorker, start_in_thread


class TrainingController(QObject):
    datasetLoading = Signal()
    datasetProgress = Signal(str, int, int)  # what, done, total
    datasetLoaded = Signal(object)  # a core Dataset
    datasetFailed = Signal(str)
    datasetNotReady = Signal(str)  # why it was not loaded (the files are not downloaded)
    trainingStarted = Signal()
    trainingEvents = Signal(list)  # metrics events (CLI.md), oldest first
    trainingDone = Signal(dict)  # reason, message, run_dir
    trainingFailed = Signal(str)
    runningChanged = Signal(bool, bool)  # running, paused

    def __init__(self, document: ProjectDocument, parent: QObject | None = None):
        super().__init__(parent)
        self.document = document
        self._prepared = None  # how the loaded images were prepared for the model's first layer
        document.changed.connect(self._model_changed)
        self.dataset = None  # the last dataset loaded (its preview is on screen)
        self.training_thread: QThread | None = None
        self.data_thread: QThread | None = None
        self._training: TrainingWorker | None = None
        self._loading: DatasetWorker | None = None
        self._closing = False

    @property
    def training(self) -> bool:
        return self.training_thread is not None

    # ---------------------------------------------------------------- data

    def load_dataset(self) -> None:
        from studio.core.data import SOURCES

        if self.data_thread is not None or self._closing:
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
        self.datasetLoading.emit()
        self._prepared = preparation(self.document.project.model.layers)
        self._loading = DatasetWorker(self.document.project.copy(), base)
        self._loading.progress.connect(self.datasetProgress)
        self._loading.loaded.connect(self._dataset_loaded)
        self._loading.failed.connect(self.datasetFailed)
        self.data_thread = start_in_thread(self._loading, self)
        self.data_thread.finished.connect(self._data_thread_done)

    @Slot()
    def _model_changed(self) -> None:
        """A pretrained backbone put first (or taken away, or another one) wants the images
        prepared otherwise: load them again."""
        if (
            self.dataset is not None
            and preparation(self.document.project.model.layers) != self._prepared
        ):
            self.load_dataset()

    def cancel_dataset(self) -> None:
        if self._loading is not None:
            self._loading.cancel()

    @Slot(object)
    def _dataset_loaded(self, dataset) -> None:
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

    @Slot()
    def _data_thread_done(self) -> None:
        self.data_thread, self._loading = None, None
        self._model_changed()  # the model changed while the data was loading

    # ---------------------------------------------------------------- training

    def train(self) -> bool:
        """Start training a copy of the project; False when a run is already going."""
        from studio.core.runs.folder import default_runs_dir

        if self.training_thread is not None or self._closing:
            return False
        document = self.document
        self._training = TrainingWorker(
            document.project.copy(), default_runs_dir(document.path), document.base_dir
        )
        self._training.eventsReady.connect(self._drain_events)
        self._training.done.connect(self._training_done)
        self._training.failed.connect(self._training_failed)
        self.training_thread = start_in_thread(self._training, self)
        self.training_thread.finished.connect(self._training_thread_done)
        self.trainingStarted.emit()
        self.runningChanged.emit(True, False)
        return True

    def toggle_pause(self) -> None:
        if self._training is None:
            return
        control = self._training.control
        control.resume() if control.paused else control.pause()
        self.runningChanged.emit(True, control.paused)

    def stop(self, wait: bool = False) -> None:
        if self._training is not None:
            self._training.control.stop()
        if wait and self.training_thread is not None:
            self.training_thread.wait()

    @Slot()
    def _drain_events(self) -> None:
        if self._training is not None:
            events = self._training.take_events()
            if events:
                self.trainingEvents.emit(events)

    @Slot(dict)
    def _training_done(self, result: dict) -> None:
        self._drain_events()
        self.trainingDone.emit(result)

    @Slot(str)
    def _training_failed(self, message: str) -> None:
        self._drain_events()
        self.trainingFailed.emit(message)

    @Slot()
    def _training_thread_done(self) -> None:
        self.training_thread, self._training = None, None
        self.runningChanged.emit(False, False)

    # ---------------------------------------------------------------- closing

    def shutdown(self) -> None:
        """Stop training, cancel loading, and wait for both threads (closing the window)."""
        self._closing = True
        self.stop(wait=True)
        self.cancel_dataset()
        if self.data_thread is not None:
            self.data_thread.wait()
