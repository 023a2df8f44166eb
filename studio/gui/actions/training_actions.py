"""Loads the open project's dataset and trains it, here or on a host, each as a background task
(tasks.py).

The views never see a thread: they call `load_dataset`, `train`, `toggle_pause`, `stop`, `attach`
and listen to the signals below, which always arrive on the GUI thread. A run on a host
(`host` chosen, core/remote) is started there and followed: its events come through the same
signals as a run's here; closing the window leaves it going there (`attach` follows it again).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
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
    trainingOn = Signal(str)  # the host the run trains on ("": here), before trainingStarted
    trainingSaid = Signal(str)  # a line for the log (what was sent to the host, ...)
    hostChecked = Signal(str, dict)  # a host's name and what it has (client.check_host)
    hostUnreachable = Signal(str, str)  # a host's name and why it did not answer

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
        self.host: str | None = None  # where Train trains (None: here); never in the project
        self._detach: threading.Event | None = None  # set: stop following, the run goes on there

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
        if self.host is not None:
            return self._train_on(self.host)
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

        self._begin(work, control)
        return True

    def _begin(self, work, control, host: str = "", detach: threading.Event | None = None) -> None:
        """The training task: cancelling it (the window closing) stops a run here, and lets a
        run on a host go on there."""
        self._control, self._detach = control, detach
        self._training = self.tasks.run(
            "train",
            work,
            done=self._training_done,
            failed=self._training_failed,
            progress=self._progressed,
            on_cancel=detach.set if detach is not None else control.stop,
        )
        self.trainingOn.emit(host)
        self.trainingStarted.emit()
        self.runningChanged.emit(True, False)

    def _progressed(self, value) -> None:
        """A batch of events, or a line for the log."""
        self.trainingSaid.emit(value) if isinstance(value, str) else self.trainingEvents.emit(value)

    def _train_on(self, name: str) -> bool:
        """Send a copy of the project to the host, start it there, and follow it."""
        from studio.core.runs.folder import default_runs_dir
        from studio.core.train.control import TrainControl

        document = self.document
        project, base = document.project.copy(), document.base_dir
        runs_dir, control, detach = (
            default_runs_dir(document.path),
            TrainControl(),
            threading.Event(),
        )

        def work(task: Task) -> dict[str, Any]:
            from studio.core.remote.client import start_on
            from studio.core.remote.hosts import get_host

            task.report(f"checking {name} and sending the project…")
            started = start_on([get_host(name)], project, base, runs_dir, say=task.report)
            task.report(
                f"{started.run_dir.name}: training on {name} (closing the window leaves it "
                "going there; the Runs tab attaches to it again)"
            )
            return follow(started.run_dir, task, control, detach)

        self._begin(work, control, name, detach)
        return True

    def attach(self, run_dir: Path, host: str) -> bool:
        """Follow a run going on `host` as if Train had started it; False when one is going."""
        from studio.core.train.control import TrainControl

        if self._training is not None or self.tasks.closed:
            return False
        control, detach = TrainControl(), threading.Event()

        def work(task: Task) -> dict[str, Any]:
            task.report(f"{Path(run_dir).name}: following it on {host}")
            return follow(Path(run_dir), task, control, detach, replay=True)

        self._begin(work, control, host, detach)
        return True

    def toggle_pause(self) -> None:
        control = self._control
        if self._training is None or control is None or self._detach is not None:
            return  # a run on a host does not pause
        control.resume() if control.paused else control.pause()
        self.runningChanged.emit(True, control.paused)

    def stop(self) -> None:
        """Stop after this batch, a checkpoint kept: here, or on the host (its follower asks)."""
        if self._training is None:
            return
        if self._detach is not None:
            self._control.stop()
        else:
            self._training.cancel()

    # ---------------------------------------------------------------- hosts

    def choose_host(self, name: str | None) -> None:
        self.host = name

    def check_hosts(self) -> None:
        """Ask every host what it has, each in a task of its own: one that does not answer
        holds up no other, and never the window."""
        from studio.core.remote.hosts import read_hosts

        self.tasks.run(
            "read hosts",
            lambda _task: list(read_hosts().values()),
            done=self._check_each,
            failed=lambda why: self.hostUnreachable.emit("", why),
        )

    def _check_each(self, hosts: list) -> None:
        from studio.core.remote.client import check_host

        for host in hosts:
            self.tasks.run(
                f"check host {host.name}",
                lambda _task, host=host: check_host(host),
                done=lambda hello, name=host.name: self.hostChecked.emit(name, hello),
                failed=lambda why, name=host.name: self.hostUnreachable.emit(name, why),
            )

    def _training_done(self, result: dict) -> None:
        self._ended()
        self.trainingDone.emit(result)

    def _training_failed(self, message: str) -> None:
        self._ended()
        self.trainingFailed.emit(message)

    def _ended(self) -> None:
        self._training, self._control, self._detach = None, None, None
        self.runningChanged.emit(False, False)


def follow(
    run_dir: Path, task: Task, control, detach: threading.Event, replay: bool = False
) -> dict[str, Any]:
    """In the task's thread: the run's events from its host, in batches, until it ends there (the
    run folder brought back), or `detach` is set (it goes on there). `replay`: the events that
    came here before first (attaching: the plots and log start where the run did)."""
    from studio.core.remote.following import Follower
    from studio.core.runs.metrics import read_metrics

    batches = EventBatches(task.report)
    try:
        for event in read_metrics(run_dir) if replay else []:
            batches.on_event(event)
        ended = Follower(run_dir, batches.on_event, lambda: control.stop_requested, detach).run()
    finally:
        batches.send()
    return {"reason": ended.reason, "message": ended.message, "run_dir": str(ended.run_dir)}


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
