"""The window under load, through its widgets: hundreds of background tasks whose results build
many graphics items on the GUI thread while their threads start and end (the race that once
deadlocked the window: a worker thread destroying a Python QObject while the GUI thread, holding
the interpreter, waited in a Qt connect), and training started and stopped from its buttons again
and again. Each must finish, every time; a deadlock would end the run through faulthandler."""

from __future__ import annotations

import os
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from studio.core.project.reading import load_project
from studio.core.train.loop import fit
from studio.core.use.evaluate import evaluate
from studio.core.use.trained import load_trained
from tests.conftest import TEMPLATES

DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")
TASKS = 200
EVALUATE_EVERY = 25  # of the tasks, one in this many is a real evaluation from its button
TRAININGS = 20


def test_hundreds_of_tasks_build_graphics_while_their_threads_come_and_go(make_window, qtbot):
    project = load_project(DIGITS)
    project.training.epochs = 1
    run = fit(project, runs_dir=Path(os.environ["STUDIO_RUNS_DIR"])).run_dir
    result = evaluate(load_trained(run))  # a real result: 10 classes, ~90 labelled cells
    window = make_window()
    view = window.views.evaluation
    qtbot.waitUntil(lambda: view.runs.count() == 1, timeout=10000)
    button = window.findChild(QPushButton, "evaluateButton")
    shown = []

    def show(answer) -> None:
        view.show_result(answer)  # a confusion matrix of TextItems, a table, the worst samples
        shown.append(answer)

    clicks = 0
    for i in range(TASKS):
        window.tasks.run(f"stress {i}", lambda _task: result, done=show)
        if i % EVALUATE_EVERY == 0 and button.isEnabled():
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
            clicks += 1
        qtbot.wait(1)  # the GUI thread builds while the next threads start and end
    qtbot.waitUntil(
        lambda: len(shown) == TASKS and not window.tasks.busy("evaluate"), timeout=120000
    )
    assert clicks >= 2 and view.result is not None
    labels = [i for i in view.matrix_plot.getPlotItem().items if isinstance(i, pg.TextItem)]
    assert len(labels) == sum(1 for row in result.confusion for n in row if n)  # none left over
    assert window.tasks.running() == []


def test_training_starts_and_stops_from_its_buttons_again_and_again(make_window, qtbot):
    window = make_window()
    panel = window.views.training_panel
    panel.epochs.setValue(1000)
    for _ in range(TRAININGS):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
        assert window.training.running and panel.stop_button.isEnabled()
        qtbot.waitUntil(lambda: len(window.views.plots.steps) > 0, timeout=30000)
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not window.training.running, timeout=30000)
        assert panel.train_button.isEnabled()
        assert panel.progress.format().startswith("stopped")
    runs = sorted(Path(os.environ["STUDIO_RUNS_DIR"]).glob("*/checkpoints/last.pt"))
    assert len(runs) == TRAININGS  # each stopped run kept its checkpoint
